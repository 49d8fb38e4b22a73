package task

import "github.com/p3o-rlhf/p3o/judge"

// Judge scores a response to a prompt; higher is better. A gold judge is the
// true reward of a task: RL algorithms never see it (unless a run optimises
// it on purpose through the rewardvader plugin), evaluation does. The judges
// live in package judge, outside host/, so plugins can serve them.
type Judge = judge.Judge

// VADER is the imdb-sentiment task's gold judge (see judge.VADER).
type VADER = judge.VADER

// NewVADER builds the imdb-sentiment task's gold judge.
func NewVADER() *VADER { return judge.NewVADER() }
