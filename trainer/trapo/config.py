"""Training config: dataclasses (every default commented by its `help`), a YAML/JSON loader, `--set` overrides, checks.

Everything here is light (no torch): `python -m trapo validate-config` and the bad-config path of `train` exit 2 with
one line naming the key and the fix before any heavy import. The JSON Schema the package ships
(`trapo/schemas/config.schema.json`, also contributed to VS Code for completion) is generated from these dataclasses
by `build_schema()`; a test keeps the file and the dataclasses in sync.

Defaults follow the reference code of the paper (see docs/algorithm.md §2, §9): stages n = 4, 2, 1, 1 with
prefix ratios 0, 0.25, 0.5, 1.0 and count thresholds -, 2, 4, 7; alpha 0.1; no std division; constant L_max
normalisation; entropy coefficient 0.001; no KL. The paper's text (ratios 0.2/0.5/1.0, mean-return thresholds
0.5/0.7/0.9) is `micro_group.threshold_kind: mean` plus the stage list in `PAPER_STAGES`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ALGORITHMS = ("trapo", "grpo", "sft", "sft_then_rl", "luffy", "prefix_context", "prefix_sft")
MICRO_GROUP_ALGORITHMS = ("trapo", "prefix_context", "prefix_sft")


class ConfigError(ValueError):
    """A bad config: `key` is the dotted path, `problem` what is wrong, `fix` what to do about it."""

    def __init__(self, key: str, problem: str, fix: str):
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(self.line())

    def line(self) -> str:
        return f"config error: {self.key or '<root>'}: {self.problem}; fix: {self.fix}"


def _f(default: Any, help: str, **constraints: Any) -> Any:
    """A dataclass field whose `help` is the comment on its default (it becomes the schema's description)."""
    meta = {"help": help, **constraints}
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda d=default: _copy(d), metadata=meta)
    return field(default=default, metadata=meta)


def _copy(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- sections


@dataclass
class StageConfig:
    n: int = _f(1, "samples drawn for the prompt in this stage", minimum=1)
    ratio: float = _f(0.0, "expert-prefix ratio when the stage is guided (0 = never guided, 1.0 = the whole expert "
                      "solution, which is not generated)", minimum=0.0, maximum=1.0)
    threshold: float | None = _f(None, "guided when the prompt's correct count so far is below this (threshold_kind "
                                 "count) or its mean reward so far is below it (mean); null = never guided",
                                 minimum=0.0)


REFERENCE_STAGES = [StageConfig(4, 0.0, None), StageConfig(2, 0.25, 2), StageConfig(1, 0.5, 4), StageConfig(1, 1.0, 7)]
PAPER_STAGES = [StageConfig(4, 0.0, None), StageConfig(2, 0.2, 0.5), StageConfig(1, 0.5, 0.7), StageConfig(1, 1.0, 0.9)]


@dataclass
class WarmupConfig:
    # mirrors trapo.warmup.WARMUP_DEFAULTS (a test keeps them equal)
    enabled: bool = _f(True, "warm the tiny model up; false = random weights")
    steps: int = _f(1500, "most optimizer steps of the warm-up SFT (it stops earlier at target_accuracy)", minimum=0)
    batch_size: int = _f(32, "sequences per warm-up step", minimum=1)
    lr: float = _f(3e-3, "warm-up learning rate (constant)", exclusive_minimum=0.0)
    n_problems: int = _f(400, "easy problems drawn for the warm-up", minimum=1)
    max_level: int = _f(2, "hardest problem level seen in the warm-up", minimum=1, maximum=2)
    level2_share: float = _f(0.3, "share of level-2 problems when max_level is 2", minimum=0.0, maximum=1.0)
    target_accuracy: float = _f(0.2, "stop the warm-up once unguided accuracy (T=1) on training problems reaches "
                                "this; 0 = run all steps", minimum=0.0, maximum=1.0)
    check_every: int = _f(50, "warm-up steps between accuracy checks", minimum=1)


@dataclass
class ModelConfig:
    name_or_path: str = _f("tiny", "'tiny' = the embedded tiny model (real HF architecture, offline tokenizer, warmed "
                           "up and cached); anything else = a Hugging Face causal-LM directory", path="dir_or_tiny")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f(
        "auto", "how the weights, and with them AdamW's state, are stored; auto = float32 (master weights, as verl and "
        "TRL train). bfloat16 storage loses small updates (at lr 1e-6 one step changed 2% of a bf16 model's "
        "parameters); what the passes compute in is model.compute_dtype")
    compute_dtype: Literal["auto", "float32", "bfloat16"] = _f(
        "auto", "what the forward and backward passes compute in; auto = bfloat16 on a GPU that has it, else float32 "
        "(never finer than model.dtype). bfloat16 with float32 weights is mixed precision: autocast on one device or "
        "DDP, FSDP2's MixedPrecisionPolicy(param_dtype bf16, reduce_dtype fp32) under fsdp2; works on CPU too")
    cache_dir: str | None = _f(None, "where the warmed-up tiny model is cached; null = ~/.cache/trapo")
    warmup: WarmupConfig = _f(WarmupConfig(), "tiny model only: the warm-up SFT that makes the base model "
                              "(solves some, not most, training problems); cached after the first run")
    gradient_checkpointing: bool = _f(False, "recompute activations in the backward pass (saves memory on big "
                                      "models); turns train.share_prompts off (one log line): a replayed layer gets no "
                                      "KV cache, so a shared prompt would not reach the response pass")


@dataclass
class DataConfig:
    train: str = _f("builtin:arithmetic", "'builtin:arithmetic' = generated problems with two expert solutions; or "
                    "real data: a parquet file, a JSONL file or a datasets save_to_disk folder in the TRAPO layout "
                    "(prompt chat messages, extra_info.answer_list, reward_model.ground_truth) or the LUFFY layout "
                    "(the expert in target as chat messages); hints are the <think> thought only",
                    path="file_or_builtin")
    train_size: int = _f(2000, "number of generated training problems (builtin only)", minimum=1)
    benchmarks: list[str] = _f(["builtin"], "'builtin' = the embedded held-out sets of graded difficulty; or parquet / "
                               "jsonl files / save_to_disk folders in the reference's evaluation layout (prompt, "
                               "reward_model.ground_truth; repeated rows = one problem with that many samples), named "
                               "after their data_source, else the file", path="file_or_builtin")
    benchmark_size: int = _f(32, "problems per embedded benchmark", minimum=1)
    shuffle: bool = _f(True, "reshuffle the training problems every epoch (seeded)")
    prompt: Literal["auto", "reference", "template"] = _f("auto", "reference = the reference's own ChatML text (system "
                                                          "'You are a helpful assistant.', problem + newline + the "
                                                          "boxed instruction); template = the tokenizer's chat "
                                                          "template on one user message; auto = reference on real "
                                                          "data, template on builtin:arithmetic")
    max_prompt_length: int | None = _f(1024, "prompts longer than this many tokens are filtered out and counted "
                                       "(reference: 1024); null = no limit", minimum=1)
    skip_bad_rows: bool = _f(False, "skip and count rows whose expert or ground truth cannot be read (and corrupt "
                             "JSONL lines) instead of stopping with an error naming the row")


@dataclass
class VllmConfig:
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f("auto", "the engine's dtype; auto = the trainer's "
                                                                  "compute dtype, model.compute_dtype (exact-match "
                                                                  "checks need float32)")
    gpu_memory_utilization: float = _f(0.3, "GPU only: share of the GPU's memory vLLM may take for its weights and "
                                       "KV cache (the trainer needs the rest)", exclusive_minimum=0.0, maximum=1.0)
    kv_cache_gib: float | None = _f(None, "KV cache size in GiB; null = from gpu_memory_utilization on GPU, 1 GiB "
                                    "on CPU", exclusive_minimum=0.0)
    sleep: bool = _f(True, "GPU only: free vLLM's KV cache and weights while the trainer trains (sleep level 2; the "
                     "weight sync refills them); on CPU vLLM has no sleep mode: skipped with one log line")
    max_model_len: int | None = _f(None, "longest prompt + prefix + response the engine takes; null = the model "
                                   "config's max_position_embeddings", minimum=1)
    enforce_eager: bool | None = _f(None, "true = no torch.compile / CUDA graphs (fast start); null = eager on "
                                    "CPU, compiled on GPU")


@dataclass
class RolloutConfig:
    max_new_tokens: int = _f(96, "the response budget in tokens: a guided sample's expert prefix plus its generated "
                             "continuation are cut to it together, and hints to it (the reference's "
                             "max_response_length, 8192 on real models)", minimum=1)
    temperature: float = _f(1.0, "sampling temperature of training rollouts (reference: 1.0); 0 = greedy",
                            minimum=0.0)
    engine: Literal["torch", "vllm"] = _f("torch", "torch = the built-in PyTorch decode loop; vllm = a vLLM engine in "
                                          "the trainer's process, weights synced after every optimizer step (needs "
                                          "the environment of scripts/setup-python.sh --vllm)")
    vllm: VllmConfig = _f(VllmConfig(), "settings of rollout.engine vllm")


@dataclass
class RewardConfig:
    method: Literal["auto", "math_verify", "exact"] = _f("auto", "math_verify = the reference's checker for every "
                                                          "answer; exact = the last \\boxed{} equals the ground "
                                                          "truth after normalisation; auto = exact when the "
                                                          "training data and every benchmark are builtin, else "
                                                          "math_verify")
    workers: int | None = _f(None, "math-verify worker processes (answers past the deadline are killed with their "
                             "worker); 0 = in the main thread under a signal deadline; null = min(4, CPUs / 2)",
                             minimum=0)
    timeout_s: float = _f(10.0, "per-answer deadline of math-verify; an answer past it scores 0 and is counted in "
                          "reward/verify_timeouts", exclusive_minimum=0.0)


@dataclass
class MicroGroupConfig:
    stages: list[StageConfig] = _f(REFERENCE_STAGES, "micro-group stages (n, ratio, threshold); the group size G is "
                                   "the sum of n (reference: 4/2/1/1, ratios 0/0.25/0.5/1.0, counts -/2/4/7)")
    threshold_kind: Literal["count", "mean"] = _f("count", "count = guided when the correct count S < threshold "
                                                  "(reference code); mean = when the mean reward < threshold (paper)")
    paragraph_lookahead: float = _f(0.3, "a prefix cut at ratio r moves forward to the next paragraph break if that "
                                    "break lies before r + this fraction of the expert length", minimum=0.0,
                                    maximum=1.0)
    paragraph_break: str = _f("\n\n", "the text that ends a paragraph for prefix cuts")
    prefix_cut: Literal["reference", "text"] = _f("reference", "reference = on token ids: after the first break "
                                                  "token (a vocabulary entry containing the break) past floor(r*L), "
                                                  "L counting the appended EOS, if before (r + lookahead) * L; text = "
                                                  "the trainer's earlier rule on the decoded text (a break may span "
                                                  "tokens, a cut already on a break stays)")
    group_size: int = _f(8, "samples per prompt for grpo and luffy (luffy: group_size-1 unguided + 1 expert)",
                         minimum=2)


@dataclass
class LossConfig:
    alpha: float = _f(0.1, "TrSFT trust-region threshold: tokens with p < alpha get a gradient damped by p/alpha",
                      exclusive_minimum=0.0, maximum=1.0)
    normalization: Literal["constant", "constant_mean", "token", "sequence"] = _f(
        "constant", "what the summed token loss of a step is divided by: constant = L_max x the number of processes "
        "(Dr.GRPO as the reference: each process sums its tokens over L_max, gradients are averaged); constant_mean "
        "= L_max x the number of sequences (the trainer's earlier scale, N times smaller); token = the token count; "
        "sequence = the number of sequences, each sequence's tokens averaged first")
    max_length: int | None = _f(None, "L_max of the constant normalisation; null = the longest response a sample "
                                "can have (rollout.max_new_tokens)", minimum=1)
    group_std: bool = _f(False, "divide advantages by the group's population std (+ std_eps); reference: off")
    std_eps: float = _f(1e-6, "epsilon added to the group std", exclusive_minimum=0.0)
    ppo_clip: bool = _f(False, "clip the importance ratio to [1-clip_eps, 1+clip_eps] (useful with update_epochs > "
                        "1); reference: off, one gradient step per batch")
    clip_eps: float = _f(0.2, "PPO clip epsilon", exclusive_minimum=0.0, maximum=1.0)
    update_epochs: int = _f(1, "optimizer passes over one step's rollouts (ratio = 1 in value when 1)", minimum=1)
    entropy_coef: float = _f(0.001, "entropy bonus coefficient (loss - coef * mean entropy over response tokens)",
                             minimum=0.0)
    entropy_normalization: Literal["micro_batch", "batch"] = _f("micro_batch", "micro_batch = the bonus on each "
                                                                "micro-batch's token mean, summed over micro-batches "
                                                                "and averaged over processes (the reference; it grows "
                                                                "with the number of micro-batches); batch = once on "
                                                                "the whole step's token mean")
    kl_coef: float = _f(0.0, "k3 KL to the initial model (needs a frozen copy); 0 = off, as in the reference",
                        minimum=0.0)
    luffy_gamma: float = _f(0.1, "luffy's policy shaping p/(p+gamma) on expert tokens", exclusive_minimum=0.0)
    filter_uniform_groups: bool = _f(False, "drop groups whose rewards are all equal from the RL loss (they have "
                                     "zero advantage anyway; counted in metrics either way)")
    tis_cap: float | None = _f(None, "truncated importance sampling for the rollout engine's mismatch "
                               "(rollout.engine vllm): each continuation token's RL loss times min(p_trainer / "
                               "p_engine, tis_cap); null = off", minimum=1.0)


@dataclass
class OptimConfig:
    lr: float = _f(1e-6, "constant learning rate, no warm-up (reference: 1e-6 on 7B)", exclusive_minimum=0.0)
    beta1: float = _f(0.9, "AdamW beta1", minimum=0.0, exclusive_maximum=1.0)
    beta2: float = _f(0.999, "AdamW beta2", minimum=0.0, exclusive_maximum=1.0)
    eps: float = _f(1e-8, "AdamW epsilon", exclusive_minimum=0.0)
    weight_decay: float = _f(0.01, "AdamW weight decay", minimum=0.0)
    grad_clip: float = _f(1.0, "clip the global gradient norm to this; 0 = no clipping", minimum=0.0)
    sft_lr: float | None = _f(None, "sft_then_rl only: learning rate of the SFT phase; null = lr. The RL phase "
                              "starts with a fresh AdamW at lr", exclusive_minimum=0.0)


@dataclass
class TrainConfig:
    steps: int = _f(200, "training steps (one optimizer update each, times loss.update_epochs)", minimum=1)
    prompts_per_step: int = _f(8, "prompts per step across all processes (the global batch)", minimum=1)
    micro_batch_size: int = _f(16, "sequences per forward/backward pass (gradient accumulation over the rest)",
                               minimum=1)
    bucket_by_length: bool = _f(True, "group sequences of similar length into micro-batches (less padding; the "
                                "gradient is the same)")
    micro_batch_overhead_tokens: int = _f(128, "with bucket_by_length: the fixed cost of one more micro-batch, in "
                                          "tokens' worth of compute (when a split saves more padding than this)",
                                          minimum=0)
    share_prompts: bool = _f(True, "run each prompt once per micro-batch and its samples' responses on its KV cache "
                             "(fewer tokens per pass; same loss and gradient); off while model.gradient_checkpointing "
                             "is on")
    max_tokens_per_micro_batch: int | None = _f(
        None, "most tokens in one forward/backward pass, counted as rows x the longest row (padding included; with "
        "share_prompts the response tokens); micro_batch_size still caps the rows. null = rows alone. A row longer "
        "than this gets a micro-batch of its own (counted in perf/over_budget_rows)", minimum=1)
    logprob_vocab_chunk: int = _f(
        8192, "log-probabilities and entropies are computed from the last hidden states in slices of this many "
        "vocabulary entries, recomputed in the backward pass, so no [rows, tokens, vocabulary] tensor exists (about "
        "12 bytes x this per token); 0 = the model's full logits (about 20 bytes per token x vocabulary)", minimum=0)
    sft_steps: int = _f(50, "sft_then_rl only: steps of the SFT phase before switching to grpo", minimum=0)
    threads: int | None = _f(None, "torch CPU threads; null = torch's default", minimum=1)


@dataclass
class EvalConfig:
    every: int = _f(20, "evaluate every N steps; 0 = never", minimum=0)
    at_start: bool = _f(True, "evaluate the base model before the first step")
    samples_per_problem: int = _f(4, "samples per benchmark problem (accuracy = mean over them); a file whose problem "
                                  "rows repeat k times gets k samples instead (the reference's avg@k layout)",
                                  minimum=1)
    temperature: float = _f(0.6, "evaluation sampling temperature (reference: 0.6); 0 = greedy", minimum=0.0)
    max_new_tokens: int | None = _f(None, "null = rollout.max_new_tokens", minimum=1)
    batch_size: int = _f(256, "most sequences (problems x samples) generated at once: a benchmark is evaluated in "
                         "batches of this size, which bounds the KV cache", minimum=1)


@dataclass
class CheckpointConfig:
    every: int = _f(50, "save every N steps; 0 = only at the end", minimum=0)
    keep_last: int = _f(2, "keep the last K checkpoints", minimum=1)
    keep_best: bool = _f(True, "also keep the checkpoint with the best benchmark average")
    at_end: bool = _f(True, "save when the run ends (finished or stopped)")
    onnx: bool = _f(True, "export model.onnx beside each checkpoint when the model is small enough")
    onnx_max_parameters: int = _f(50_000_000, "skip the ONNX export above this parameter count", minimum=0)


@dataclass
class LoggingConfig:
    heartbeat_s: float = _f(5.0, "seconds between heartbeat events", exclusive_minimum=0.0)
    token_stats: bool = _f(False, "write per-token text, log-probability and entropy into rollout files")
    rollouts_every: int = _f(1, "write the rollouts file every N steps", minimum=1)
    system_metrics_s: float = _f(5.0, "report system/* metrics (GPU utilisation and memory via nvidia-ml-py, PyTorch "
                                 "CUDA memory, host memory and CPU via psutil) every N seconds; 0 = off", minimum=0.0)


@dataclass
class AnomaliesConfig:
    # mirrors trapo.anomalies.Thresholds (a test keeps them equal)
    enabled: bool = _f(True, "emit `anomaly` events (and a warning log line) when a health rule starts to hold")
    window: int = _f(20, "steps averaged by the entropy, length-limit and reward rules", minimum=1)
    entropy_collapse_fraction: float = _f(0.1, "entropy collapse: mean policy/entropy of the last `window` steps below "
                                          "this fraction of its mean over the run's first `window` steps",
                                          exclusive_minimum=0.0, exclusive_maximum=1.0)
    clip_ratio_max: float = _f(0.9, "length limit: mean response/clip_ratio (answers stopped at max_new_tokens) of the "
                               "last `window` steps at or above this", exclusive_minimum=0.0, maximum=1.0)
    benchmark_drop: float = _f(0.05, "reward up, benchmarks down: the benchmark average fell by at least this from one "
                               "evaluation to the next ...", exclusive_minimum=0.0)
    reward_rise: float = _f(0.05, "... while the training reward (mean of the `window` steps before each evaluation) "
                            "rose by at least this", exclusive_minimum=0.0)


@dataclass
class DistributedConfig:
    strategy: Literal["ddp", "fsdp2"] = _f("ddp", "how several processes (torchrun) share the model")
    backend: Literal["auto", "gloo", "nccl"] = _f("auto", "auto = nccl on GPU, gloo on CPU")


@dataclass
class Config:
    name: str | None = _f(None, "run name (in the run id and run.json); null = the algorithm")
    algorithm: Literal["trapo", "grpo", "sft", "sft_then_rl", "luffy", "prefix_context", "prefix_sft"] = _f(
        "trapo", "trapo (micro-groups + TrSFT), grpo, sft, sft_then_rl, luffy, prefix_context (prefix as context "
        "only), prefix_sft (plain SFT on prefixes: the ablation that collapses)")
    seed: int = _f(0, "seed of data order, sampling and initialisation", minimum=0)
    device: str = _f("auto", "auto = cuda when available else cpu; or cpu, cuda, cuda:N",
                     pattern=r"^(auto|cpu|cuda(:[0-9]+)?|mps)$")
    model: ModelConfig = _f(ModelConfig(), "policy model")
    data: DataConfig = _f(DataConfig(), "training data and benchmarks")
    rollout: RolloutConfig = _f(RolloutConfig(), "sampling of training rollouts")
    reward: RewardConfig = _f(RewardConfig(), "how answers are scored")
    micro_group: MicroGroupConfig = _f(MicroGroupConfig(), "micro-group sampling with adaptive expert prefixes")
    loss: LossConfig = _f(LossConfig(), "loss terms and normalisation")
    optim: OptimConfig = _f(OptimConfig(), "AdamW optimizer")
    train: TrainConfig = _f(TrainConfig(), "steps and batch sizes")
    eval: EvalConfig = _f(EvalConfig(), "periodic benchmark evaluation")
    checkpoint: CheckpointConfig = _f(CheckpointConfig(), "checkpoints (Hugging Face layout + trainer state)")
    logging: LoggingConfig = _f(LoggingConfig(), "events and rollout files")
    anomalies: AnomaliesConfig = _f(AnomaliesConfig(), "health alerts: non-finite loss, entropy collapse, answers at "
                                    "the length limit, training reward up while the benchmarks fall")
    distributed: DistributedConfig = _f(DistributedConfig(), "torchrun settings")

    @property
    def run_name(self) -> str:
        return self.name or self.algorithm

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- loading


def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls, globalns=globals())


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type_name(args[0]) + " or null"
    if origin is list:
        return "a list of " + _type_name(typing.get_args(tp)[0])
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, key: str, meta: dict) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, key, meta)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(key, f"{value!r} is not allowed", "use " + _type_name(tp))
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, f"expected {_type_name(tp)}, got {type(value).__name__}", f"write {key} as a list")
        return [_convert(typing.get_args(tp)[0], v, f"{key}[{i}]", meta) for i, v in enumerate(value)]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, key)
    if tp is float and isinstance(value, str) and _FLOAT_RE.match(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[tp]
    if not ok:
        raise ConfigError(key, f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}",
                          f"set {key} to {_type_name(tp)}")
    if tp is float:
        value = float(value)
    _check_range(key, value, meta)
    return value


_FLOAT_RE = __import__("re").compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _check_range(key: str, value: Any, meta: dict) -> None:
    bounds = (("minimum", lambda v, b: v >= b, ">="), ("maximum", lambda v, b: v <= b, "<="),
              ("exclusive_minimum", lambda v, b: v > b, ">"), ("exclusive_maximum", lambda v, b: v < b, "<"))
    for name, ok, sign in bounds:
        if name in meta and not ok(value, meta[name]):
            raise ConfigError(key, f"{value!r} is out of range", f"use a value {sign} {meta[name]}")
    if "pattern" in meta:
        import re

        if not re.match(meta["pattern"], value):
            raise ConfigError(key, f"{value!r} is not recognised", f"match {meta['pattern']}")


def _from_dict(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(prefix, f"expected a mapping, got {type(data).__name__} {data!r}",
                          f"write {prefix or 'the config'} as key: value lines")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in fields:
            close = _closest(str(k), list(fields))
            hint = (f"did you mean {(prefix + '.' if prefix else '') + close}?" if close
                    else f"valid keys: {', '.join(fields)}")
            raise ConfigError(key, "unknown key", f"remove it ({hint})")
        kwargs[k] = _convert(hints[k], v, key, dict(fields[k].metadata))
    return cls(**kwargs)


def _closest(word: str, options: list) -> str | None:
    import difflib

    hits = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return hits[0] if hits else None


def read_config_file(path: str | os.PathLike) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError("--config", f"file {str(p)!r} not found", "pass the path of an existing .yaml/.json config")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # parse errors: one line
        msg = " ".join(str(exc).split())
        raise ConfigError("--config", f"{p.name} does not parse: {msg[:200]}", "fix the YAML/JSON syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("<root>", f"expected a mapping at the top of {p.name}",
                          "write the config as key: value lines")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """`--set a.b.c=value`: value parsed as YAML (numbers, booleans, null, [lists], {maps}); keys checked later."""
    import yaml

    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(item, "--set needs key=value", "write --set dotted.key=value, e.g. --set optim.lr=1e-4")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except Exception:
            value = raw
        node = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(".".join(parts[: i + 1]), "is not a section",
                                  f"--set a key inside a section, not {key}")
            node = nxt
        node[parts[-1]] = value
    return data


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None,
                check_files: bool = True) -> Config:
    data = read_config_file(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    cfg = _from_dict(Config, data, "")
    validate(cfg, check_files=check_files)
    return cfg


def config_from_dict(data: dict) -> Config:
    """A resolved config (e.g. run.json's) back into dataclasses; no file checks."""
    cfg = _from_dict(Config, data, "")
    validate(cfg, check_files=False)
    return cfg


def validate(cfg: Config, check_files: bool = True) -> None:
    """Checks across keys and on the file system."""
    stages = cfg.micro_group.stages
    if not stages:
        raise ConfigError("micro_group.stages", "is empty", "give at least one stage, e.g. the reference 4/2/1/1")
    if stages[0].threshold is not None or stages[0].ratio != 0.0:
        raise ConfigError("micro_group.stages[0]", "the first stage must be unguided (ratio 0, threshold null)",
                          "set stages[0] to {n: 4, ratio: 0, threshold: null}")
    for i, st in enumerate(stages):
        if st.threshold is not None and st.ratio == 0.0:
            raise ConfigError(f"micro_group.stages[{i}].ratio", "a guided stage needs a prefix ratio > 0",
                              "set ratio > 0 or threshold: null")
        if st.ratio >= 1.0 and st.threshold is not None and st.n != 1:
            raise ConfigError(f"micro_group.stages[{i}].n",
                              "a full-expert stage has exactly one (not generated) sample", "set n: 1")
        if cfg.micro_group.threshold_kind == "mean" and st.threshold is not None and st.threshold > 1.0:
            raise ConfigError(f"micro_group.stages[{i}].threshold", f"{st.threshold} is above 1 for a mean threshold",
                              "use a mean reward in [0, 1] or threshold_kind: count")
    if sum(st.n for st in stages) < 2:
        raise ConfigError("micro_group.stages", "the group has fewer than 2 samples", "raise the stage sizes n")
    if cfg.algorithm == "sft_then_rl" and cfg.train.sft_steps >= cfg.train.steps:
        raise ConfigError("train.sft_steps", f"{cfg.train.sft_steps} leaves no RL phase (train.steps is "
                          f"{cfg.train.steps})", "set train.sft_steps below train.steps")
    if cfg.loss.tis_cap is not None and cfg.rollout.engine != "vllm":
        raise ConfigError("loss.tis_cap", "needs the engine's log-probabilities, which only rollout.engine vllm has",
                          "set rollout.engine: vllm or loss.tis_cap: null")
    if cfg.model.compute_dtype == "float32" and cfg.model.dtype in ("bfloat16", "float16"):
        raise ConfigError("model.compute_dtype", f"float32 compute with {cfg.model.dtype} weights",
                          "set model.dtype float32 (compute cannot be finer than the stored weights)")
    if check_files:
        check_environment(cfg)
        name = cfg.model.name_or_path
        if name != "tiny" and not Path(name).is_dir():
            raise ConfigError("model.name_or_path", f"{name!r} is not a directory",
                              "give a Hugging Face model directory or 'tiny'")
        if not cfg.data.train.startswith("builtin:") and not Path(cfg.data.train).exists():
            raise ConfigError("data.train", f"file {cfg.data.train!r} not found",
                              "give a parquet / jsonl file, a save_to_disk folder or builtin:arithmetic")
        if cfg.data.train.startswith("builtin:") and cfg.data.train != "builtin:arithmetic":
            raise ConfigError("data.train", f"unknown builtin {cfg.data.train!r}", "use builtin:arithmetic")
        for i, b in enumerate(cfg.data.benchmarks):
            if b != "builtin" and not Path(b).exists():
                raise ConfigError(f"data.benchmarks[{i}]", f"file {b!r} not found",
                                  "give a parquet/jsonl file, a save_to_disk folder or 'builtin'")


def check_environment(cfg: Config) -> None:
    """What this Python environment must have for the config (cheap: no heavy import)."""
    if cfg.rollout.engine == "vllm":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise ConfigError("rollout.engine", f"vllm is not installed in this environment ({sys.executable})",
                              "make one with bash scripts/setup-python.sh --vllm and run the trainer with "
                              "trainer/.venv-vllm/bin/python, or set rollout.engine: torch")


# --------------------------------------------------------------------------- schema


def _schema_of(tp: Any, meta: dict) -> dict:
    origin = typing.get_origin(tp)
    out: dict
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _schema_of(args[0], meta)
        if "type" in inner and isinstance(inner["type"], str):
            inner["type"] = [inner["type"], "null"]
        else:
            inner = {"anyOf": [inner, {"type": "null"}]}
        return inner
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin is list:
        return {"type": "array", "items": _schema_of(typing.get_args(tp)[0], {})}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _object_schema(tp)
    out = {"type": {bool: "boolean", int: "integer", float: "number", str: "string"}[tp]}
    for ours, theirs in (("minimum", "minimum"), ("maximum", "maximum"), ("exclusive_minimum", "exclusiveMinimum"),
                         ("exclusive_maximum", "exclusiveMaximum"), ("pattern", "pattern")):
        if ours in meta:
            out[theirs] = meta[ours]
    return out


def _object_schema(cls: type) -> dict:
    hints = _hints(cls)
    props = {}
    defaults = cls()
    for f in dataclasses.fields(cls):
        s = _schema_of(hints[f.name], dict(f.metadata))
        s = {"description": f.metadata.get("help", ""), **s}
        value = getattr(defaults, f.name)
        if not dataclasses.is_dataclass(value):
            s["default"] = _plain_default(value)
        props[f.name] = s
    return {"type": "object", "additionalProperties": False, "properties": props}


def _plain_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_plain_default(v) for v in value]
    return value


def build_schema() -> dict:
    schema = _object_schema(Config)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "trapo-config.schema.json",
        "title": "TRAPO trainer config (python -m trapo train --config FILE)",
        "description": "Every key has a default; unknown keys are errors. See trainer/trapo/config.py.",
        **schema,
    }


def schema_file() -> Path:
    return Path(__file__).parent / "schemas" / "config.schema.json"


def write_schema() -> None:
    schema_file().write_text(json.dumps(build_schema(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":  # python -m trapo.config  -> regenerate the shipped schema
    write_schema()
    print(schema_file())
    sys.exit(0)
