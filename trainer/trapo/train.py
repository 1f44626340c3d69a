"""The training loop: TRAPO and its baselines, one process or several under torchrun.

How TRAPO departs from GRPO (docs/algorithm.md; defaults follow the paper's released code):

- Kept from GRPO: a group of G = 8 samples per prompt, binary verifiable reward, advantage = R - group mean (no std
  division by default; `loss.group_std` turns it on), the same scalar on every token of a sample's continuation.
- On-policy, one gradient step per batch: the ratio pi/pi_old is 1 in value, so the RL loss is REINFORCE with a
  group-mean baseline. PPO clipping (eps 0.2) exists for `loss.update_epochs` > 1 and is off by default.
- No KL term and no reference model (optional k3 KL via `loss.kl_coef`). Entropy bonus 0.001.
- Normalisation: the sum of all token losses over a constant L_max (Dr.GRPO), not over the token count.
- Micro-group sampling: the group is drawn in stages (4, 2, 1, 1); a stage is continued from an expert prefix (25%,
  50%, the whole solution) when the prompt's correct count so far this step is below 2, 4, 7. The full-expert sample
  is not generated. Nothing is carried across steps.
- How prefixes enter the loss: expert-prefix tokens get Trust-Region SFT, -p / max(sg(p), alpha) with alpha 0.1
  (SFT's gradient where p >= alpha, damped by p/alpha below), once per shared prefix (the stage's last sample owns
  it), with no advantage weighting; the model's own continuation tokens get the RL loss with the group advantage,
  the group including the prefixed and full-expert samples. SFT and RL token losses are summed with equal weight.

Baselines (one switch, `algorithm`): grpo (one unguided stage of G), sft (token-mean cross-entropy on expert
solutions), sft_then_rl (sft for train.sft_steps, then grpo, one run), luffy (G-1 unguided + 1 expert sample whose
tokens get -A p/(p+0.1)), prefix_context (micro-groups, no loss on prefixes), prefix_sft (micro-groups, plain SFT on
prefixes: the ablation that collapses).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import signal
import threading
import time
import traceback
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Literal

import torch

from . import checkpoint as ckpt
from . import compact_tokens, signals
from . import distributed as D
from . import precision as P
from .anomalies import AnomalyDetector, Thresholds
from .batching import over_budget, plan_micro_batches
from .config import MICRO_GROUP_ALGORITHMS, Config
from .forward import HeadUnsupported, SharedPromptUnsupported, checkpointing_on
from .forward import forward as run_forward
from .micro_group import Stage, stage_plan
from .mismatch import align_engine_logprobs, mismatch_sums
from .objective import LOSS_KEYS, loss_mask, objective, prefix_loss_kind, spec_for
from .progress import PhaseReporter
from .rollout import (
    PromptItem,
    TokenBatch,
    assign_advantages,
    build_token_batch,
    expert_samples,
    make_prompt_item,
    sample_step,
)
from .rollout_stats import row_summaries, summary_fields
from .runformat import (
    Anomaly,
    BenchmarkResult,
    Checkpoint,
    ErrorInfo,
    Eval,
    Heartbeat,
    Log,
    Metrics,
    ModelInfo,
    Phase,
    PrefixAllocation,
    PromptAllocation,
    RolloutRecord,
    RunFinished,
    RunStarted,
    RunWriter,
    StageRecord,
    read_events,
)
from .stopping import StopControl, StopRequested
from .system_metrics import SystemMetrics

REQUIRED_METRICS = (
    "loss/total", "loss/trsft", "loss/policy", "loss/entropy", "reward/unguided_mean", "reward/mean",
    "prefix/level_0", "prefix/level_1", "prefix/level_2", "prefix/level_3", "prefix/mean_ratio",
    "trsft/outside_trust_region", "groups/all_correct", "groups/all_wrong", "response/mean_length",
    "response/clip_ratio", "policy/entropy", "optim/grad_norm", "optim/lr", "perf/step_s", "perf/rollout_s",
    "perf/train_s", "perf/tokens_per_s",
)


def stages_for(algorithm: str, cfg: Config) -> list[Stage]:
    g = cfg.micro_group.group_size
    if algorithm in MICRO_GROUP_ALGORITHMS:
        return stage_plan(cfg.micro_group.stages)
    if algorithm == "luffy":  # G-1 unguided + the full expert solution, always
        return [Stage(g - 1, 0.0, None), Stage(1, 1.0, math.inf)]
    return [Stage(g, 0.0, None)]  # grpo


def phase_algorithm(cfg: Config, step: int) -> str:
    """The algorithm of 1-based `step` (sft_then_rl: sft for the first train.sft_steps steps, then grpo)."""
    if cfg.algorithm == "sft_then_rl":
        return "sft" if step <= cfg.train.sft_steps else "grpo"
    return cfg.algorithm


def _seed_for(*parts) -> int:
    h = 1469598103934665603
    for p in parts:
        for ch in str(p).encode():
            h = ((h ^ ch) * 1099511628211) % (1 << 61)
        h = (h * 31 + 7) % (1 << 61)
    return h


class Sink:
    """Rank 0's RunWriter behind a lock (the heartbeat thread writes too); other ranks write nothing."""

    def __init__(self, writer: RunWriter | None):
        # Signal handlers never take it: they leave notes (trapo/signals.py), written by the heartbeat thread.
        self.writer, self.lock = writer, threading.RLock()
        self.finished = False  # run_finished written: a heartbeat due just after it is not
        # Log lines from signal handlers (trapo/signals.py note): written out by another thread or at the end.
        self.notes: deque = deque()

    def drain_notes(self):
        """Emits the notes signal handlers left (never from a handler: it may run inside `with self.lock`)."""
        while self.notes:
            level, message = self.notes.popleft()
            self.emit(Log(level=level, message=message))

    def emit(self, event, step=None):
        with self.lock:
            if self.writer is not None and not (self.finished and isinstance(event, Heartbeat)):
                self.writer.emit(event, step=step)
                self.finished = self.finished or isinstance(event, RunFinished)

    def call(self, name, *args, **kw):
        with self.lock:
            if self.writer is None:
                return None
            out = getattr(self.writer, name)(*args, **kw)
            if name == "close":
                self.writer = None  # a late heartbeat after the end writes nothing
            return out


class HeartbeatThread(threading.Thread):
    def __init__(self, sink: Sink, every_s: float):
        super().__init__(daemon=True, name="trapo-heartbeat")
        self.sink, self.every_s = sink, every_s
        self.phase: Phase = "rollout"
        self.step: int | None = None
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.wait(self.every_s):
            self.sink.drain_notes()
            self.sink.emit(Heartbeat(phase=self.phase), step=self.step)


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False, log=print):
        try:  # no progress bars in logs/trainer.log
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except Exception:  # pragma: no cover
            pass

        self.cfg, self.run_dir, self.log_fn = cfg, Path(run_dir), log
        self.dist = D.setup(cfg.device, cfg.distributed.strategy, cfg.distributed.backend)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        if cfg.train.prompts_per_step % self.dist.world_size:
            raise ValueError(f"train.prompts_per_step ({cfg.train.prompts_per_step}) must be a multiple of the world "
                             f"size ({self.dist.world_size}) so that the global batch is kept")
        # A process alone may drop the work in progress on a stop; ranks of several must finish the step together.
        self.stop = StopControl(can_drop=not self.dist.enabled)
        self.ended_in_step = False  # set when run() ends on a path every rank takes together
        self.sink = Sink(None)
        self.resuming = resume and (self.run_dir / "run.json").exists()  # appending to an existing run's events
        if self.dist.is_main:
            info: dict[str, Any] = dict(config=cfg.to_dict(), world_size=self.dist.world_size,
                                        device=self.dist.device, total_steps=cfg.train.steps)
            if resume and (self.run_dir / "run.json").exists():
                self.sink = Sink(RunWriter.open_existing(self.run_dir, **info))
            else:
                self.sink = Sink(RunWriter.create(self.run_dir, name=cfg.run_name, algorithm=cfg.algorithm, **info))
        self.phases = PhaseReporter(self.sink.emit)  # "preparing 40%" until run_started (rank 0 writes; others no-op)
        try:
            self._setup(cfg, resume)
        except KeyboardInterrupt:  # Stop during set-up (the tiny model's warm-up can take a minute): nothing lost
            self._log("interrupted during set-up: stopped before the first step (a resume starts at step 0)",
                      "warning")
            self._finish("stopped")
            raise
        except BaseException as exc:  # a model or data that fails to load is recorded in the run too
            self._finish("failed", exc)
            raise

    def _setup(self, cfg: Config, resume: bool) -> None:
        from . import models
        from .generation import make_engine

        fsdp = self.dist.enabled and self.dist.strategy == "fsdp2"
        self.precision = P.resolve(cfg.model.dtype, cfg.model.compute_dtype, self.dist.device, fsdp)
        torch.manual_seed(cfg.seed)
        self.tokens_seen = 0  # response tokens trained on so far (data/tokens_seen: an x axis that only grows)
        self.start_step, state, latest = 0, None, None
        if resume:
            latest = ckpt.latest_checkpoint(self.run_dir)
        warm = {k: v for k, v in vars(cfg.model.warmup).items()}
        src = str(latest) if latest is not None else cfg.model.name_or_path
        what = "checkpoint " + latest.name if latest is not None else "model " + src
        self.phases("load_model", None, f"loading {what}")
        # the base model is the same for every training seed (seed 0), as one base model is in the paper
        model, self.tokenizer, self.model_name = models.load_policy(
            src, device=self.dist.device, dtype=self.precision.stored, seed=0, warmup=warm,
            cache_dir=cfg.model.cache_dir, log=self._log if self.dist.is_main else None,
            progress=(lambda f, m: self.phases("warmup", f, m)) if self.dist.is_main else None)
        if latest is not None:
            self.model_name = cfg.model.name_or_path if cfg.model.name_or_path != "tiny" else "tiny-qwen2"
            state = ckpt.load_trainer_state(latest)
            self.start_step = int(state["step"])
            self.tokens_seen = int(state.get("tokens_seen", 0))  # response tokens trained on so far
        self.n_params = sum(p.numel() for p in model.parameters())
        if cfg.model.gradient_checkpointing:
            models.enable_gradient_checkpointing(model)
        self._log(f"precision: {self.precision.describe()}")
        storage_warning = P.low_precision_storage_warning(self.precision)
        if storage_warning:
            self._log(storage_warning, "warning")
        self.ref_model = None
        if cfg.loss.kl_coef > 0:
            self.ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        from .pipeline import build_pipeline

        self.phases("load_data", None, "loading the training problems and benchmarks")
        # data, prompt, reward, stop ids and the length checks, before the model is wrapped or anything runs
        self.pipeline = build_pipeline(cfg, self.tokenizer, model, log=self._log if self.dist.is_main else
                                       (lambda m: None))
        self.build_prompt, self.score = self.pipeline.build_prompt, self.pipeline.scorer
        model.train()
        self.model = D.wrap_model(model, self.dist, self.precision.compute if self.precision.mixed else None)
        self.optimizer = self._make_optimizer(self._phase_lr(self.start_step + 1))
        # rollout.engine: started once per run, with the weights just loaded
        self.engine = make_engine(cfg, D.unwrap(self.model), device=self.dist.device, distributed=self.dist.enabled,
                                  fsdp=fsdp, log=self._log)
        self.eval_averages: dict[int, float] = {}
        if state is not None:
            if state.get("optimizer") is not None:  # a checkpoint from before the sharded layout
                self._load_optimizer(state["optimizer"])
            else:
                ckpt.load_sharded(self.model, self.optimizer, latest / state.get("sharded", ckpt.SHARDED_DIR))
            ckpt.set_rng_state(state["rng"])
            self.eval_averages = dict(state.get("eval_averages", {}))
        self.problems, self.benchmarks = self.pipeline.problems, self.pipeline.benchmarks
        from .checkpoint_evals import benchmark_identity

        self.benchmark_ids = {name: benchmark_identity(name, p) for name, p in self.benchmarks.items()}
        self._items: dict[int, PromptItem] = {}

    @classmethod
    def for_updates(cls, cfg: Config, model, dist_info: D.DistInfo) -> Trainer:
        """A trainer that only runs `train_batch` on given batches (tests, benchmarks): no data, no run dir."""
        self = cls.__new__(cls)
        self.cfg, self.dist, self.ref_model, self.stop = cfg, dist_info, None, StopControl(can_drop=False)
        fsdp = dist_info.enabled and dist_info.strategy == "fsdp2"
        self.precision = P.resolve(cfg.model.dtype, cfg.model.compute_dtype, dist_info.device, fsdp)
        model.train()
        self.model = D.wrap_model(model, dist_info, self.precision.compute if self.precision.mixed else None)
        self.optimizer = self._make_optimizer()
        return self

    @property
    def stop_requested(self) -> bool:
        """A stop was asked (the first SIGINT or SIGTERM, or a peer rank's)."""
        return self.stop.requested

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        self.stop.requested = value

    def _make_optimizer(self, lr: float | None = None) -> torch.optim.Optimizer:
        o = self.cfg.optim
        return torch.optim.AdamW(self.model.parameters(), lr=o.lr if lr is None else lr, betas=(o.beta1, o.beta2),
                                 eps=o.eps, weight_decay=o.weight_decay)

    def _phase_lr(self, step: int) -> float:
        """sft_then_rl's SFT phase may have its own learning rate (optim.sft_lr); everything else uses optim.lr."""
        o = self.cfg.optim
        return o.sft_lr if (o.sft_lr is not None and phase_algorithm(self.cfg, step) == "sft") else o.lr

    # ------------------------------------------------------------------ helpers

    def _log(self, message: str, level: Literal["debug", "info", "warning", "error"] = "info") -> None:
        if self.dist.is_main:
            self.log_fn(f"[trapo] {message}")
            if getattr(self, "started", False):  # run_started stays the first event of each invocation
                self.sink.emit(Log(level=level, message=message))

    def _load_optimizer(self, state) -> None:
        if self.dist.strategy == "fsdp2":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(self.model, self.optimizer, state,
                                     options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))
        else:
            self.optimizer.load_state_dict(state)

    def data_indices(self, step: int) -> list[int]:
        """Problem indices of 1-based `step` for this rank: global positions (step-1)*P ... step*P - 1 of the epoch
        permutations, every world-th one. Deterministic in (seed, step): the data position needs no extra state."""
        n, p = len(self.problems), self.cfg.train.prompts_per_step
        out = []
        for pos in range((step - 1) * p, step * p):
            out.append(self._perm(pos // n)[pos % n])
        return out[self.dist.rank::self.dist.world_size]

    def _perm(self, epoch: int) -> list[int]:
        cache = self.__dict__.setdefault("_perms", {})
        if epoch not in cache:
            import random

            order = list(range(len(self.problems)))
            if self.cfg.data.shuffle:
                random.Random(_seed_for(self.cfg.seed, "epoch", epoch)).shuffle(order)
            cache.clear()
            cache[epoch] = order
        return cache[epoch]

    def item(self, idx: int) -> PromptItem:
        if idx not in self._items:
            self._items[idx] = make_prompt_item(self.tokenizer, self.problems[idx], self.build_prompt,
                                                max_response=self.cfg.rollout.max_new_tokens,
                                                with_pieces=self.cfg.micro_group.prefix_cut == "text")
        return self._items[idx]

    def _generation_model(self):
        """The model to hand the engine: the trainer's (gathered under FSDP2) unless the engine has its own weights."""
        if self.engine.uses_trainer_model:
            return D.generation_mode(self.model, self.dist)
        return contextlib.nullcontext(D.unwrap(self.model))

    def _generator(self, *salt) -> torch.Generator:
        """On the model's device, so that sampling never copies the probabilities to the host (CPU: as before)."""
        return torch.Generator(device=self.dist.device).manual_seed(_seed_for(self.cfg.seed, self.dist.rank, *salt))

    # ------------------------------------------------------------------ one step

    def rollout(self, step: int, algorithm: str):
        cfg = self.cfg
        items = [self.item(i) for i in self.data_indices(step)]
        if algorithm == "sft":
            return items, None, expert_samples(items, self.tokenizer.eos_token_id,
                                               max_response=cfg.rollout.max_new_tokens)
        with self.stop.droppable(), self._generation_model() as gen_model, self.precision.autocast():
            ro = sample_step(gen_model, self.tokenizer, items, stages_for(algorithm, cfg), engine=self.engine,
                             score=self.score, max_new_tokens=cfg.rollout.max_new_tokens,
                             temperature=cfg.rollout.temperature, generator=self._generator("rollout", step),
                             threshold_kind=cfg.micro_group.threshold_kind,
                             lookahead=cfg.micro_group.paragraph_lookahead,
                             paragraph_break=cfg.micro_group.paragraph_break, stop_ids=self.pipeline.stop_ids,
                             prefix_rule=cfg.micro_group.prefix_cut, break_ids=self.pipeline.break_ids)
        self.engine.release_memory()
        assign_advantages(ro.samples, cfg.loss.group_std, cfg.loss.std_eps)
        return items, ro, ro.samples

    def train_batch(self, batch: TokenBatch, algorithm: str, want_tokens: bool) -> dict:
        """Forward/backward over micro-batches, clip, one AdamW step per epoch. Returns summed stats."""
        cfg, lc = self.cfg, self.cfg.loss
        lmask = loss_mask(batch.continuation, batch.prefix_owned, prefix_loss_kind(algorithm))
        glob = D.all_reduce_sum([len(batch), float(lmask.sum()), float(batch.response.sum()),
                                 float(batch.prefix_owned.sum())], self.dist)
        n_seq, n_tok, n_resp, n_own = glob
        world = self.dist.world_size
        spec = spec_for(algorithm, lc, max_length=lc.max_length or cfg.rollout.max_new_tokens, num_sequences=n_seq,
                        num_tokens=n_tok, num_response=n_resp, world_size=world)
        share = cfg.train.share_prompts and batch.prompt_len is not None
        plain = D.unwrap(self.model)
        self.__dict__.setdefault("_vocab_chunk", cfg.train.logprob_vocab_chunk)
        if share and checkpointing_on(plain):
            if not self.__dict__.get("_said_no_sharing"):
                self._log("train.share_prompts switched off: with model.gradient_checkpointing transformers replays "
                          "each layer without the KV cache, so the response pass would not see the prompt; whole "
                          "sequences are run instead (same loss)", "warning")
                self._said_no_sharing = True
            share = False
        # With shared prompts a row costs its response (its prompt is run once per micro-batch): bucket by that.
        lengths = [t - int(p) for t, p in zip(batch.lengths(), batch.prompt_len)] if share else batch.lengths()  # pyright: ignore[reportArgumentType] (share needs prompt_len)
        budget = cfg.train.max_tokens_per_micro_batch
        rows = plan_micro_batches(lengths, cfg.train.micro_batch_size, cfg.train.micro_batch_overhead_tokens,
                                  by_length=cfg.train.bucket_by_length, max_tokens=budget)
        n_real = len(rows)
        if self.dist.enabled and self.dist.strategy == "fsdp2":
            # FSDP2 gathers parameters in every forward and reduces gradients in every backward: every rank must run
            # as many passes. A rank with fewer micro-batches (its prompts got fewer samples, or shorter ones) runs
            # its first micro-batch again with its loss times 0.
            rows = rows + [rows[0]] * (D.all_reduce_max(len(rows), self.dist) - len(rows))
        stats: dict = defaultdict(float)
        tokens_out: list = [None] * len(batch)
        rows_out: list = [None] * len(batch)  # per-rollout summaries for the rollout file
        n_prefix = batch.prefix_any.sum(dim=1)
        old_logp: list = [None] * len(rows)
        dev = self.dist.device
        for epoch in range(lc.update_epochs):
            self.optimizer.zero_grad(set_to_none=True)
            for k, r in enumerate(rows):
                if epoch == 0:
                    self.stop.drop_point()  # nothing is changed until the first optimizer step: a stop drops the step
                mb = batch.take(r)
                with D.no_sync(self.model, last=k == len(rows) - 1):
                    with self.precision.autocast():
                        fw, share = self._forward(mb, share, plain)
                    logp, ent = fw.logp, fw.entropy
                    eng = None if mb.engine_logprobs is None else align_engine_logprobs(fw.response, mb.engine_logprobs)
                    own, cont, resp = fw.prefix_owned, fw.continuation, fw.response
                    if epoch == 0:
                        old_logp[k] = logp.detach()
                    ref_logp = None
                    if self.ref_model is not None:
                        with torch.no_grad(), self.precision.autocast():
                            ref_logp = run_forward(self.ref_model, mb, dev, share, vocab_chunk=self._vocab_chunk).logp
                    loss, terms = objective(spec, logp, ent, resp, own, cont, mb.advantages.to(dev),
                                            old_logp=None if epoch == 0 else old_logp[k], ref_logp=ref_logp,
                                            engine_logp=None if eng is None else eng[0],
                                            engine_mask=None if eng is None else eng[1])
                    if k >= n_real:  # a pass only to keep FSDP2's collectives in step (see above)
                        (loss * 0.0).backward()
                        continue
                    (loss * world).backward()
                stats["_clipped"] += terms["_clipped"].item()
                if epoch == 0:
                    for key in LOSS_KEYS + ("_ent_sum", "_outside"):  # the first epoch's sums (_clipped: all)
                        stats[key] += terms[key].item()
                    for row, summary in zip(r, row_summaries(logp, ent, resp, n_prefix[list(r)], lc.alpha)):
                        rows_out[row] = summary
                    if eng is not None:
                        diff_sum, n_engine = mismatch_sums(logp, *eng)
                        stats["_mismatch_sum"] += diff_sum
                        stats["_mismatch_n"] += n_engine
                    if want_tokens:
                        lp_cpu, ent_cpu = logp.detach().cpu(), ent.detach().cpu()
                        for j, row in enumerate(r):
                            m = resp[j].cpu()
                            tokens_out[row] = (lp_cpu[j][m].tolist(), ent_cpu[j][m].tolist())
            clip_to = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip_to)
            grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm  # pyright: ignore[reportAttributeAccessIssue] (a DTensor's)
            self.optimizer.step()
            stats["optim/grad_norm"] = float(grad_norm)
        keys = ["loss/trsft", "loss/policy", "loss/entropy", "loss/kl", "loss/total", "_ent_sum", "_outside",
                "_clipped", "_mismatch_sum", "_mismatch_n"]
        summed = dict(zip(keys, D.all_reduce_sum([stats[k] for k in keys], self.dist)))
        out = {k: v for k, v in summed.items() if not k.startswith("_")}
        out["optim/grad_norm"] = stats["optim/grad_norm"]
        out["policy/entropy"] = summed["_ent_sum"] / max(n_resp, 1.0)
        out["trsft/outside_trust_region"] = summed["_outside"] / n_own if n_own else 0.0
        if lc.ppo_clip:
            out["policy/clip_frac"] = summed["_clipped"] / max(n_tok * lc.update_epochs, 1.0)
        if summed["_mismatch_n"]:  # mean |logp_trainer - logp_engine| over the sampled tokens
            out["rollout/logp_mismatch"] = summed["_mismatch_sum"] / summed["_mismatch_n"]
        out["train/shared_prompts"] = 1.0 if share else 0.0
        out["train/logprob_vocab_chunk"] = float(self._vocab_chunk)
        out["perf/over_budget_rows"] = D.all_reduce_sum([float(over_budget(lengths, budget))], self.dist)[0]
        out["_tokens"] = tokens_out  # pyright: ignore[reportArgumentType] (taken out of the metrics by the caller)
        self.last_row_summaries = rows_out  # per rollout, for write_step_files
        out["_response_tokens"] = n_resp
        return out

    def _forward(self, mb: TokenBatch, share: bool, plain):
        """(ForwardOut, share) of one micro-batch. When the model cannot do the shared-prompt pass or the vocabulary-
        chunked head, it says so once and runs the plain way (same loss and gradient) for the rest of the run."""
        chunk = self.__dict__.setdefault("_vocab_chunk", self.cfg.train.logprob_vocab_chunk)
        try:
            return run_forward(self.model, mb, self.dist.device, share, cache_model=plain, vocab_chunk=chunk), share
        except SharedPromptUnsupported as exc:
            self._log(f"train.share_prompts switched off: this model's forward does not support it ({exc})",
                      "warning")
            share = self.cfg.train.share_prompts = False
        except HeadUnsupported as exc:
            self._log(f"train.logprob_vocab_chunk switched off: {exc}; the full logits are used", "warning")
            self._vocab_chunk = 0
        return self._forward(mb, share, plain)

    # ------------------------------------------------------------------ events of a step

    def step_metrics(self, algorithm: str, ro, samples, train: dict, n_levels: int) -> dict:
        m = {k: v for k, v in train.items() if not k.startswith("_")}
        m["optim/lr"] = self.optimizer.param_groups[0]["lr"]
        m["reward/verify_timeouts"] = float(D.all_reduce_sum([self.score.take_timeouts()], self.dist)[0])
        if ro is None:  # sft: no sampling; every prompt gets the full expert solution
            lens = [len(s.prefix_ids) for s in samples]
            agg = D.all_reduce_sum([sum(lens), len(lens)], self.dist)
            m.update({f"prefix/level_{i}": 0.0 for i in range(n_levels)})
            m[f"prefix/level_{n_levels - 1}"], m["prefix/mean_ratio"] = 1.0, 1.0
            m["response/mean_length"], m["response/clip_ratio"] = agg[0] / max(agg[1], 1), 0.0
            return m
        groups: dict[int, list] = defaultdict(list)
        for s in samples:
            groups[s.prompt_index].append(s.reward)
        gen = [s for s in samples if not s.full_expert]
        unguided = [s.reward for s in samples if s.stage == 0]
        local = [sum(unguided), len(unguided), sum(s.reward for s in samples), len(samples),
                 sum(all(r > 0.5 for r in g) for g in groups.values()), sum(all(r <= 0.5 for r in g) for g in
                                                                              groups.values()),
                 len(groups), sum(len(s.completion_ids) for s in gen), len(gen), sum(s.truncated for s in gen),
                 sum(s.ratio for s in samples)]
        local += [sum(1 for lv in ro.levels if lv == i) for i in range(n_levels)]
        a = D.all_reduce_sum(local, self.dist)
        n_prompts = max(a[6], 1)
        m.update({
            "reward/unguided_mean": a[0] / max(a[1], 1), "reward/mean": a[2] / max(a[3], 1),
            "groups/all_correct": a[4] / n_prompts, "groups/all_wrong": a[5] / n_prompts,
            "response/mean_length": a[7] / max(a[8], 1), "response/clip_ratio": a[9] / max(a[8], 1),
            "prefix/mean_ratio": a[10] / max(a[3], 1),
        })
        for i in range(n_levels):
            m[f"prefix/level_{i}"] = a[11 + i] / n_prompts
        return m

    def write_step_files(self, step: int, items, ro, samples, tokens) -> None:
        """prefix_allocation and the rollouts file (gathered from every rank to rank 0)."""
        if ro is None:
            return
        allocs = [PromptAllocation(prompt_id=it.problem.id, level=lv, stages=[
            StageRecord(n=o.n, ratio=min(o.ratio, 1.0), guided=o.guided, correct=o.correct,
                        correct_before=o.correct_before) for o in outs])
            for it, lv, outs in zip(items, ro.levels, ro.outcomes)]
        records = []
        if step % self.cfg.logging.rollouts_every == 0:
            for i, (s, tok) in enumerate(zip(samples, tokens)):
                it = items[s.prompt_index]
                stats = None
                if tok is not None and self.cfg.logging.token_stats:
                    texts = [self.tokenizer.decode([t]) for t in s.prefix_ids + s.completion_ids]
                    stats = compact_tokens.encode(texts, tok[0], tok[1], len(s.prefix_ids), s.prefix_text,
                                               s.completion_text)
                rows = getattr(self, "last_row_summaries", None)  # of this step's training pass (train_batch)
                summary = summary_fields(rows[i]) if rows is not None and rows[i] is not None else {}
                records.append(RolloutRecord(
                    step=step, prompt_id=it.problem.id, sample=s.sample, stage=s.stage, level=ro.levels[s.prompt_index],
                    prompt=it.prompt_text, prefix=s.prefix_text, completion=s.completion_text, reward=s.reward,
                    advantage=s.advantage, answer=it.problem.answer, extracted=s.extracted, sft_owner=s.sft_owner,
                    prefix_ratio=min(s.ratio, 1.0), token_stats=stats, completion_tokens=len(s.completion_ids),
                    prefix_tokens=len(s.prefix_ids), **summary))
        gathered = D.gather_objects((allocs, records), self.dist)
        if self.dist.is_main:
            self.sink.emit(PrefixAllocation(prompts=[a for g in gathered for a in g[0]]), step=step)
            all_records = [r for g in gathered for r in g[1]]
            if all_records:
                self.sink.call("write_rollouts", step, all_records)

    def evaluate(self, step: int) -> float:
        from .evaluate import accuracy, benchmark_metric, evaluate_benchmark

        cfg = self.cfg
        results = {}
        # The generation may be dropped on a stop; writing its files and its event is not (no half-written results).
        with self.stop.droppable(), self._generation_model() as gen_model, self.precision.autocast():
            for name, problems in self.benchmarks.items():
                mine = problems[self.dist.rank::self.dist.world_size]
                recs = evaluate_benchmark(gen_model, self.tokenizer, mine, engine=self.engine,
                                          build_prompt=self.build_prompt, score=self.score,
                                          samples_per_problem=cfg.eval.samples_per_problem,
                                          temperature=cfg.eval.temperature,
                                          max_new_tokens=cfg.eval.max_new_tokens or cfg.rollout.max_new_tokens,
                                          generator=self._generator("eval", step, name),
                                          stop_ids=self.pipeline.stop_ids, batch_size=cfg.eval.batch_size)
                results[name] = [r for part in D.gather_objects(recs, self.dist) for r in part]
        timeouts = D.all_reduce_sum([self.score.take_timeouts()], self.dist)[0]
        if timeouts:
            self._log(f"eval step {step}: {int(timeouts)} answers ran past reward.timeout_s and scored 0", "warning")
        benches = {}
        for name, recs in results.items():
            rel = self.sink.call("write_eval_file", step, name, recs)
            k, metric = benchmark_metric(recs, cfg.eval.samples_per_problem)
            benches[name] = BenchmarkResult(accuracy=accuracy(recs), n=len(recs), samples_per_problem=k,
                                            file=rel[0] if rel else "", metric=metric,
                                            **self.benchmark_ids.get(name, {}))
        avg = sum(b.accuracy for b in benches.values()) / max(len(benches), 1)
        self.sink.emit(Eval(benchmarks=benches, average=avg), step=step)
        health = getattr(self, "health", None)
        if health is not None:
            self._report_anomalies(health.on_eval(avg), step)
        self.eval_averages[step] = avg
        self._log(f"eval step {step}: " + ", ".join(f"{k} {v.metric} {v.accuracy:.3f}" for k, v in benches.items())
                  + f" (average {avg:.3f})")
        return avg

    def save(self, step: int) -> None:
        """Every rank writes its shard of model + optimizer into the temp folder; rank 0 adds the full model in Hugging
        Face layout (gathered under FSDP2: the model, never the optimizer), the trainer state, and renames."""
        cfg = self.cfg
        token = D.gather_objects(os.getpid(), self.dist)[0]  # rank 0's pid names the temp folder on every rank
        tmp = ckpt.temp_dir(self.run_dir, step, token)
        if self.dist.is_main:
            ckpt.fresh_dir(tmp)
        D.barrier(self.dist)
        ckpt.save_sharded(self.model, self.optimizer, tmp / ckpt.SHARDED_DIR)
        full_sd = None
        if self.dist.strategy == "fsdp2":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            full_sd = get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True,
                                                                                  cpu_offload=True))
        if self.dist.is_main:
            export = None
            if cfg.checkpoint.onnx and self.n_params <= cfg.checkpoint.onnx_max_parameters:
                export = self._onnx_export
            # The RNG as it was when the step ended (a stop may come in the middle of the next step's rollout).
            boundary = getattr(self, "_boundary", None)
            rng = boundary[1] if boundary is not None and boundary[0] == step else None
            state = ckpt.trainer_state(step, step * cfg.train.prompts_per_step, None,
                                       {"eval_averages": self.eval_averages, "algorithm": cfg.algorithm,
                                        "tokens_seen": self.tokens_seen}, rng=rng)
            path, size, has_onnx = ckpt.save_checkpoint(self.run_dir, step, D.unwrap(self.model), self.tokenizer,
                                                        state, state_dict=full_sd, export=export, tmp=tmp)
            rel = path.relative_to(self.run_dir).as_posix()
            self.sink.emit(Checkpoint(path=rel, onnx=f"{rel}/model.onnx" if has_onnx else None, bytes=size),
                           step=step)
            saved = [s for s, _ in ckpt.list_checkpoints(self.run_dir)]
            best = ckpt.best_step(self.eval_averages, saved) if cfg.checkpoint.keep_best else None
            ckpt.prune_checkpoints(self.run_dir, cfg.checkpoint.keep_last, best)
        self.saved_step = step
        D.barrier(self.dist)

    def _onnx_export(self, tmp_dir: Path):
        try:
            from .onnx_export import export_onnx

            return export_onnx(tmp_dir, tmp_dir / "model.onnx")
        except Exception as exc:  # an export failure must not lose the checkpoint
            self._log(f"ONNX export skipped: {type(exc).__name__}: {exc}", "warning")
            return None

    # ------------------------------------------------------------------ the loop

    def run(self) -> str:
        cfg, total = self.cfg, self.cfg.train.steps
        n_levels = max(4, max(len(stages_for(a, cfg)) for a in (cfg.algorithm, "grpo")))
        # A resume says where it continues from, 0 included (no checkpoint: it starts over): readers drop what they
        # held of the steps after it, which this invocation runs again.
        self.sink.emit(RunStarted(config=cfg.to_dict(), total_steps=total, model=ModelInfo(self.model_name,
                                  self.n_params), device=self.dist.device, world_size=self.dist.world_size,
                                  resumed_from_step=self.start_step if self.resuming else None,
                                  prompt_example=self.pipeline.prompt_example),
                       step=self.start_step)
        self.started = True
        hb = HeartbeatThread(self.sink, cfg.logging.heartbeat_s)
        self.heartbeat = hb
        self.health = self._health_detector()
        self.system = None
        if self.dist.is_main:
            hb.start()
        self.saved_step = self.start_step if self.start_step else None  # a resume starts from its checkpoint
        self.finished_step = self.start_step
        self._boundary = (self.start_step, ckpt.rng_state()) if self.stop.can_drop else None
        if self.dist.is_main:
            self.system = SystemMetrics(cfg.logging.system_metrics_s, self.dist.device,
                                        log=lambda m: self._log(m, "warning")).start()
        try:
            if cfg.eval.at_start and self.start_step == 0 and self.benchmarks:
                hb.phase = "eval"
                try:
                    self.evaluate(0)
                except StopRequested:
                    return self._stop(0, "the evaluation of the base model")
            step = self.start_step
            while step < total:
                step += 1
                hb.step = step
                t0 = time.perf_counter()
                algorithm = phase_algorithm(cfg, step)
                if cfg.algorithm == "sft_then_rl" and cfg.train.sft_steps > 0 and step == cfg.train.sft_steps + 1:
                    # a two-stage pipeline: RL starts from the SFT weights with a fresh optimizer at the RL rate
                    self.optimizer = self._make_optimizer(cfg.optim.lr)
                    self._log(f"step {step}: SFT phase over; grpo starts with a fresh AdamW (lr {cfg.optim.lr:g})")
                try:
                    hb.phase = "rollout"
                    items, ro, samples = self.rollout(step, algorithm)
                    t1 = time.perf_counter()
                    hb.phase = "train"
                    batch = build_token_batch(samples, self.tokenizer.pad_token_id or 0, self._rl_on(samples))
                    want_tokens = cfg.logging.token_stats and step % cfg.logging.rollouts_every == 0
                    train = self.train_batch(batch, algorithm, want_tokens)
                except StopRequested:  # nothing of this step was kept: the last finished one is the one before
                    work = "training pass" if hb.phase == "train" else hb.phase
                    return self._stop(step - 1, f"the {work} of step {step}")
                self.tokens_seen += int(train["_response_tokens"])  # before a checkpoint of this step saves it
                if self.stop.can_drop:  # the next step's rollout may be dropped: keep the RNG as this step left it
                    self._boundary = (step, ckpt.rng_state())
                t2 = time.perf_counter()
                sync_s = self.engine.sync_weights(D.unwrap(self.model))  # an engine with its own weights
                metrics = self.step_metrics(algorithm, ro, samples, train, n_levels)
                if sync_s is not None:
                    metrics["perf/weight_sync_s"] = sync_s
                self.write_step_files(step, items, ro, samples, train["_tokens"])
                t_eval = t_ckpt = 0.0
                if self.dist.enabled:
                    self.stop_requested = D.any_flag(self.stop_requested, self.dist)
                last = step == total or self.stop_requested
                # No new evaluation once a stop was asked: the stop saves this step without it.
                if (cfg.eval.every and (step % cfg.eval.every == 0 or step == total) and self.benchmarks
                        and not self.stop_requested):
                    hb.phase = "eval"
                    te = time.perf_counter()
                    try:
                        self.evaluate(step)
                    except StopRequested:
                        self._log(f"stop: the evaluation of step {step} was abandoned; step {step} is saved without "
                                  f"it", "warning")
                    t_eval = time.perf_counter() - te
                if (cfg.checkpoint.every and step % cfg.checkpoint.every == 0) or (last and cfg.checkpoint.at_end):
                    hb.phase = "checkpoint"
                    tc = time.perf_counter()
                    self.save(step)
                    t_ckpt = time.perf_counter() - tc
                gen_tokens = ro.generated_tokens if ro is not None else 0
                gen_tokens = D.all_reduce_sum([gen_tokens], self.dist)[0]
                metrics.update({"perf/step_s": time.perf_counter() - t0, "perf/rollout_s": t1 - t0,
                                "perf/train_s": t2 - t1, "perf/eval_s": t_eval, "perf/checkpoint_s": t_ckpt,
                                "perf/tokens_per_s": gen_tokens / max(t1 - t0, 1e-9),
                                "perf/generation_calls": ro.generation_calls if ro is not None else 0,
                                "data/epoch": (step * cfg.train.prompts_per_step) / len(self.problems)})
                metrics["data/tokens_seen"] = self.tokens_seen
                if self.system is not None:
                    metrics.update(self.system.collect())
                self.sink.emit(Metrics(values=metrics), step=step)
                if self.health is not None:
                    self._report_anomalies(self.health.on_step(metrics), step)
                self.sink.call("update", step=step)
                self.finished_step = step
                if self.dist.is_main:
                    self.log_fn(f"[trapo] step {step}/{total} {algorithm}: loss {metrics['loss/total']:.4f} "
                                f"reward {metrics.get('reward/unguided_mean', float('nan')):.3f} "
                                f"({metrics['perf/step_s']:.2f}s)")
                if self.dist.enabled:
                    # A stop asked for after `last` was decided (during eval, checkpoint or logging) must still save.
                    self.stop_requested = D.any_flag(self.stop_requested, self.dist)
                if self.stop_requested:
                    return self._stop(step, None)
            self._finish("finished")
            self.ended_in_step = True
            return "finished"
        except StopRequested:  # droppable work outside the places above (none today): save what is finished
            return self._stop(self.finished_step, "the work in progress")
        except KeyboardInterrupt:
            self._finish("stopped")
            return "stopped"
        except BaseException as exc:
            self._finish("failed", exc)
            raise
        finally:
            hb.stop_event.set()
            if self.system is not None:
                self.system.stop()

    def _health_detector(self) -> AnomalyDetector | None:
        """Rank 0's health rules (trapo.anomalies); on a resume, fed the run's history so far without firing."""
        a = self.cfg.anomalies
        if not (a.enabled and self.dist.is_main):
            return None
        detector = AnomalyDetector(Thresholds(window=a.window, entropy_collapse_fraction=a.entropy_collapse_fraction,
                                              clip_ratio_max=a.clip_ratio_max, benchmark_drop=a.benchmark_drop,
                                              reward_rise=a.reward_rise))
        if self.start_step:
            detector.replay(read_events(self.run_dir)[0])
        return detector

    def _report_anomalies(self, findings, step: int) -> None:
        for f in findings:
            self._log(f"anomaly at step {step}: {f.message}", "warning")
            self.sink.emit(Anomaly(kind=f.kind, message=f.message, metric=f.metric, value=f.value,
                                   threshold=f.threshold), step=step)

    def _stop(self, step: int, abandoned: str | None) -> str:
        """Ends the run `stopped` with `step`, the last finished step, saved (a resume continues from it)."""
        if abandoned:
            self._log(f"stop: {abandoned} was abandoned; saving step {step}, the last finished one", "warning")
        if step > 0 and self.saved_step != step and self.cfg.checkpoint.at_end:
            self.heartbeat.phase = "checkpoint"
            self.save(step)
        elif step == 0:
            self._log("stopped before the first step finished: a resume starts at step 0", "warning")
        elif self.saved_step != step:
            self._log(f"checkpoint.at_end is off: step {step} is not saved (a resume starts from the last checkpoint)",
                      "warning")
        self._finish("stopped")
        self.ended_in_step = True
        return "stopped"

    def _rl_on(self, samples) -> list | None:
        if not self.cfg.loss.filter_uniform_groups:
            return None
        groups: dict[int, set] = defaultdict(set)
        for s in samples:
            groups[s.prompt_index].add(s.reward)
        return [len(groups[s.prompt_index]) > 1 for s in samples]

    def _finish(self, status: Literal["finished", "failed", "stopped"], exc: BaseException | None = None) -> None:
        if getattr(self, "pipeline", None) is not None:
            self.pipeline.close()  # the math-verify workers
        error = None
        if exc is not None:
            error = ErrorInfo(type=type(exc).__name__, message=str(exc),
                              traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        self.sink.drain_notes()
        self.sink.emit(RunFinished(status=status, error=error), step=None)
        self.sink.call("set_status", status)
        self.sink.call("close")


def install_sigint(trainer: Trainer) -> dict:
    """First Ctrl-C (or SIGTERM): drop the rollout, training pass or evaluation in progress where that loses nothing
    finished, save the last finished step, end `stopped` (trapo/stopping.py). Second: stop now, without saving (under
    Slurm only a different signal: a repeated one is a copy of the same Stop, trapo/signals.py)."""

    def handler(signum, frame):
        if signals.is_twin(signum):  # the same Stop delivered twice under Slurm (trapo/signals.py)
            return
        if trainer.stop_requested:
            raise KeyboardInterrupt
        if trainer.stop.on_signal():
            raise StopRequested
        if trainer.stop.can_drop:
            what = "dropping the work in progress where nothing finished is lost"
        else:  # several processes: the ranks finish the step together
            what = "finishing this step"
        signals.note(trainer, f"interrupt: {what}, then saving the last finished step and stopping "
                              f"({signals.stop_now_hint()})")

    if threading.current_thread() is not threading.main_thread():
        return {}
    # Slurm's notice before the time limit (SIGUSR1) asks for the same stop, and never for "stop now".
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    return {**previous, **signals.install_notice(trainer)}


def _interrupt_setup() -> dict:
    def handler(signum, frame):
        if signals.is_twin(signum):
            return
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, *signals.NOTICE_SIGNALS)}


def run_training(cfg: Config, run_dir: Path, resume: bool = False, log=print) -> str:
    """Train; returns the final status. Failures during setup are recorded too when the run dir exists."""
    trainer, previous, clean = None, {}, False
    signals.forget_interrupts()
    try:
        # Until the trainer's own handler is in place, SIGINT and SIGTERM (the extension's Stop) interrupt the set-up.
        setup_handlers = _interrupt_setup()
        try:
            if signals.early_notice() is not None:  # Slurm's time-limit notice came while Python started
                log(f"[trapo] {signal.Signals(signals.early_notice()).name} (Slurm's notice before the time limit) "
                    "came before the trainer started: stopping, nothing to save yet")
                raise KeyboardInterrupt
            trainer = Trainer(cfg, run_dir, resume=resume, log=log)
        except KeyboardInterrupt:
            return "stopped"
        finally:
            for sig, old in setup_handlers.items():
                signal.signal(sig, old)
        previous = install_sigint(trainer)
        status = trainer.run()
        # Every rank reached the same end together (a second Ctrl-C ends one rank alone: no barrier then).
        clean = trainer.ended_in_step
        return status
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if trainer is not None:
            D.teardown(trainer.dist, clean=clean)
