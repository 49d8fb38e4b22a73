// Package task defines the built-in tasks of the host: a prompt distribution
// and a gold judge (the true reward, used for evaluation and for making
// gold-labelled preference data, never shown to an RL algorithm).
//
// The only task today is imdb-sentiment (see IMDB): prompts are the first
// 2-8 words of IMDB reviews, responses are 48 bytes, and the gold reward is
// VADER's compound sentiment score of the response.
package task
