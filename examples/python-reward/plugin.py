#!/usr/bin/python3
"""lexicon: a reward plugin written in Python. Run it like any plugin:

    go run ./host --algo plugins/p3o --reward examples/python-reward/plugin.py

A bag-of-words Bradley-Terry reward model. The score of a response is

    r(x, y) = sum over the words w of y of weight[w] / sqrt(number of words in y)

(0 for a response without words; words are runs of ASCII letters, lower-cased;
the prompt is not scored, since the policy cannot change it). The weights start
from a small sentiment lexicon times option `prior` and learn from comparisons
by minibatch SGD on the Bradley-Terry loss -log sigmoid(r(chosen) - r(rejected)).
Step s trains on the comparisons s*batch .. s*batch+batch-1 of a per-epoch
permutation drawn from (seed, epoch), so the step is the only cursor and a
saved state continues exactly.

Options (TOML, strict): lr (0.5), batch (8), steps (0: `epochs` passes over the
first Train call's comparisons), epochs (1.0), seed (1), prior (1.0).

The state is JSON: the format name and version, the options, the step, the
budget and the weights (floats written by repr, so they load bit for bit).
"""

import json
import math
import random
import re
import sys

from p3o_plugin import Comparison, PluginError, Sample, Spec, TrainResult, serve_reward  # noqa: F401

VERSION = "1.0.0"
STATE_FORMAT = "p3o-python-lexicon"
STATE_VERSION = 1

DEFAULTS = {"lr": 0.5, "batch": 8, "steps": 0, "epochs": 1.0, "seed": 1, "prior": 1.0}

# The starting weights (times option prior).
LEXICON = {
    "good": 1.0, "great": 1.0, "wonderful": 1.0, "excellent": 1.0, "best": 1.0, "love": 1.0, "loved": 1.0,
    "beautiful": 1.0, "enjoyed": 1.0, "fun": 0.5, "fine": 0.25,
    "bad": -1.0, "awful": -1.0, "terrible": -1.0, "worst": -1.0, "boring": -1.0, "hate": -1.0, "hated": -1.0,
    "dull": -1.0, "waste": -1.0, "poor": -0.5,
}

WORD = re.compile(r"[a-z]+")


def words(text):
    return WORD.findall(text.lower())


def check_options(o):
    """Validates a full options dict; returns it. Unknown keys are errors."""
    unknown = sorted(set(o) - set(DEFAULTS))
    if unknown:
        raise PluginError("unknown option " + ", ".join(unknown))

    def number(k, lo, integer=False):
        v = o[k]
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not math.isfinite(v) or v < lo:
            want = "an integer" if integer else "a number"
            raise PluginError(f"option {k} = {v!r}: want {want} >= {lo}")

    number("lr", 0)
    number("batch", 1, integer=True)
    number("steps", 0, integer=True)
    number("epochs", 0)
    number("seed", 0, integer=True)
    number("prior", -math.inf)
    if o["lr"] <= 0:
        raise PluginError(f"option lr = {o['lr']!r}: want > 0")
    if o["steps"] == 0 and o["epochs"] <= 0:
        raise PluginError(f"option epochs = {o['epochs']!r}: want > 0 when steps is 0")
    return {k: (float(v) if isinstance(DEFAULTS[k], float) else v) for k, v in o.items()}


def softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


class Lexicon:
    """The reward model; p3o_plugin serialises the calls."""

    def __init__(self):
        self.opts = None
        self.weights = {}
        self.step = 0
        self.total = 0  # the budget, fixed by the first Train call

    def describe(self):
        return Spec(name="python-lexicon", version=VERSION, trainable=True, default_options=dict(DEFAULTS))

    def configure(self, options):
        o = check_options({**DEFAULTS, **options})
        self.opts = o
        self.weights = {w: o["prior"] * v for w, v in LEXICON.items()}
        self.step, self.total = 0, 0

    def _need_configured(self):
        if self.opts is None:
            raise PluginError("not configured: the host calls Configure first")

    def _score(self, text):
        ws = words(text)
        if not ws:
            return 0.0
        s = 0.0
        for w in ws:
            s += self.weights.get(w, 0.0)
        return s / math.sqrt(len(ws))

    def score(self, samples):
        self._need_configured()
        return [self._score(s.response) for s in samples]

    def _order(self, n, epoch):
        perm = list(range(n))
        random.Random(self.opts["seed"] * 1_000_003 + epoch).shuffle(perm)
        return perm

    def train(self, train, held_out, max_steps):
        self._need_configured()
        if not train:
            raise PluginError("train: no training comparisons")
        if max_steps < 0:
            raise PluginError(f"train: max_steps {max_steps}: want >= 0")
        o = self.opts
        per_epoch = math.ceil(len(train) / o["batch"])
        if self.total == 0:
            self.total = o["steps"] or max(1, math.ceil(o["epochs"] * per_epoch))
        todo = self.total - self.step
        if max_steps > 0:
            todo = min(todo, max_steps)
        losses = []
        for _ in range(todo):
            epoch, k = divmod(self.step, per_epoch)
            perm = self._order(len(train), epoch)
            batch = [train[i] for i in perm[k * o["batch"]:(k + 1) * o["batch"]]]
            grad, loss = {}, 0.0
            for c in batch:
                d = self._score(c.chosen) - self._score(c.rejected)
                loss += softplus(-d)
                # dLoss/dd = -sigmoid(-d), without overflow for large |d|
                g = -math.exp(-d) / (1.0 + math.exp(-d)) if d >= 0 else -1.0 / (1.0 + math.exp(d))
                for text, sign in ((c.chosen, 1.0), (c.rejected, -1.0)):
                    ws = words(text)
                    for w in ws:
                        grad[w] = grad.get(w, 0.0) + sign * g / math.sqrt(len(ws))
            for w, gw in grad.items():
                self.weights[w] = self.weights.get(w, 0.0) - o["lr"] * gw / len(batch)
            losses.append(loss / len(batch))
            self.step += 1
        acc = 0.0
        for c in held_out:
            d = self._score(c.chosen) - self._score(c.rejected)
            acc += 1.0 if d > 0 else 0.5 if d == 0 else 0.0
        return TrainResult(
            steps=self.step, done=self.step >= self.total,
            loss=sum(losses) / len(losses) if losses else 0.0,
            held_out_accuracy=acc / len(held_out) if held_out else 0.0,
            stats={"train/steps_total": float(self.total), "lexicon/words": float(len(self.weights))})

    def save_state(self):
        self._need_configured()
        return json.dumps({"format": STATE_FORMAT, "version": STATE_VERSION, "options": self.opts,
                           "step": self.step, "total": self.total, "weights": self.weights}).encode()

    def load_state(self, state):
        """Adopts a saved state whole, or nothing: it is checked before any
        of it is used."""
        try:
            st = json.loads(state.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise PluginError(f"load state: not a {STATE_FORMAT} state ({len(state)} bytes): {e}") from None
        if not isinstance(st, dict) or st.get("format") != STATE_FORMAT:
            raise PluginError(f"load state: not a {STATE_FORMAT} state")
        if st.get("version") != STATE_VERSION:
            raise PluginError(f"load state: format version {st.get('version')!r}, this plugin reads {STATE_VERSION}")
        opts = st.get("options")
        if not isinstance(opts, dict):
            raise PluginError("load state: no options")
        opts = check_options({**DEFAULTS, **opts})
        step, total, weights = st.get("step"), st.get("total"), st.get("weights")
        if not (isinstance(step, int) and isinstance(total, int) and 0 <= step and 0 <= total):
            raise PluginError(f"load state: step {step!r} of {total!r} is corrupt")
        if not isinstance(weights, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in weights.values()):
            raise PluginError("load state: weights are not finite numbers")
        self.opts, self.step, self.total = opts, step, total
        self.weights = {w: float(v) for w, v in weights.items()}


if __name__ == "__main__":
    sys.exit(serve_reward(Lexicon()))
