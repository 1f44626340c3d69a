"""System metrics in their own namespace (`system/*`): GPU utilisation and memory, PyTorch's CUDA memory, host memory
and CPU, sampled every few seconds by a daemon thread and reported with the step's metrics.

Sources, each optional (a missing one leaves its metrics out; nothing fails):
- NVIDIA's NVML through `nvidia-ml-py` (import name `pynvml`) when the run is on a CUDA device: utilisation (% of time
  a kernel ran over NVML's last sample period) and memory used by every process on that GPU.
- `torch.cuda.memory_allocated` / `max_memory_allocated` (peak since the start of the process) on a CUDA device.
- `psutil`: this process's resident memory and CPU (100 = one core busy), and the host's memory in use.

Only rank 0 writes the run directory, so the figures are rank 0's GPU and process. Metric names:

    system/gpu_util_pct          mean of the samples since the last report
    system/gpu_memory_gb         most used in those samples (all processes on the GPU, NVML)
    system/gpu_memory_pct        the same as a share of the GPU's memory
    system/torch_allocated_gb    allocated by this process's PyTorch caching allocator now
    system/torch_max_allocated_gb  its peak since the process started (torch.cuda.max_memory_allocated)
    system/rss_gb                most resident memory of this process in the samples
    system/cpu_pct               mean CPU of this process (100 = one core)
    system/host_memory_pct       most host memory in use (all processes)

A report (`collect()`) carries metrics only once `every_s` seconds have passed since the previous one, so a run of
fast steps gets a point every few seconds, not every step.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

GB = 1024 ** 3


def cuda_index(device: str) -> int | None:
    """The CUDA ordinal of a device string ('cuda' -> 0, 'cuda:2' -> 2), or None when it is not a CUDA device."""
    if not device.startswith("cuda"):
        return None
    _, _, idx = device.partition(":")
    return int(idx) if idx.isdigit() else 0


def _visible_device(index: int) -> tuple[str, Any]:
    """How NVML finds the logical CUDA device `index`: by physical index, or by UUID (CUDA_VISIBLE_DEVICES remaps)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not visible:
        return "index", index
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    if index >= len(ids):
        return "index", index
    chosen = ids[index]
    return ("index", int(chosen)) if chosen.isdigit() else ("uuid", chosen)


class NvmlSource:
    """One GPU through NVML. `open()` returns None (and a reason) when NVML cannot be used."""

    def __init__(self, nvml: Any, handle: Any):
        self.nvml, self.handle = nvml, handle

    @classmethod
    def open(cls, index: int, import_nvml: Callable[[], Any]) -> tuple[NvmlSource | None, str | None]:
        try:
            nvml = import_nvml()
        except ImportError:
            return None, "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
        try:
            nvml.nvmlInit()
            how, which = _visible_device(index)
            if how == "uuid":
                handle = nvml.nvmlDeviceGetHandleByUUID(which)
            else:
                handle = nvml.nvmlDeviceGetHandleByIndex(which)
        except Exception as exc:  # NVMLError (no driver, no such device), or a broken binding
            return None, f"NVML unavailable: {type(exc).__name__}: {exc}"
        return cls(nvml, handle), None

    def sample(self) -> dict:
        util = self.nvml.nvmlDeviceGetUtilizationRates(self.handle)
        mem = self.nvml.nvmlDeviceGetMemoryInfo(self.handle)
        return {"gpu_util": float(util.gpu), "gpu_mem": float(mem.used), "gpu_mem_total": float(mem.total)}

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


class PsutilSource:
    def __init__(self, psutil: Any):
        self.psutil = psutil
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first call only starts the measurement

    @classmethod
    def open(cls, import_psutil: Callable[[], Any]) -> tuple[PsutilSource | None, str | None]:
        try:
            return cls(import_psutil()), None
        except ImportError:
            return None, "psutil is not installed (pip install psutil)"
        except Exception as exc:
            return None, f"psutil unavailable: {type(exc).__name__}: {exc}"

    def sample(self) -> dict:
        return {
            "rss": float(self.process.memory_info().rss),
            "cpu": float(self.process.cpu_percent(None)),
            "host_mem_pct": float(self.psutil.virtual_memory().percent),
        }


def _import_pynvml():
    import pynvml

    return pynvml


def _import_psutil():
    import psutil

    return psutil


class TorchCudaSource:
    def __init__(self, cuda: Any, index: int):
        self.cuda, self.index = cuda, index

    def read(self) -> dict:
        return {
            "system/torch_allocated_gb": self.cuda.memory_allocated(self.index) / GB,
            "system/torch_max_allocated_gb": self.cuda.max_memory_allocated(self.index) / GB,
        }


class SystemMetrics:
    """Samples in a daemon thread every `every_s / 5` seconds; `collect()` returns the report (or {} when due later).

    Sources are found at construction; `log` gets one line naming each missing source that would matter (NVML and
    PyTorch's CUDA memory only on a CUDA device).
    """

    def __init__(self, every_s: float, device: str, log: Callable[[str], None] = lambda m: None, *,
                 import_nvml: Callable[[], Any] = _import_pynvml, import_psutil: Callable[[], Any] = _import_psutil,
                 torch_cuda: Any = None, clock: Callable[[], float] = time.monotonic):
        self.every_s, self.clock = every_s, clock
        self.lock = threading.Lock()
        self.samples: list[dict] = []
        self.last_report = clock()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        index = cuda_index(device)
        self.gpu: NvmlSource | None = None
        self.torch: TorchCudaSource | None = None
        if index is not None:
            self.gpu, why = NvmlSource.open(index, import_nvml)
            if why:
                log(f"system metrics: no GPU utilisation or memory: {why}")
            if torch_cuda is None:
                import torch

                torch_cuda = torch.cuda
            if torch_cuda.is_available():
                self.torch = TorchCudaSource(torch_cuda, index)
        self.host, why = PsutilSource.open(import_psutil)
        if why:
            log(f"system metrics: no host memory or CPU: {why}")
        self._failed: set = set()
        self.log = log

    @property
    def has_sources(self) -> bool:
        return any(s is not None for s in (self.gpu, self.torch, self.host))

    def sample_now(self) -> None:
        """One sample of every source (a source that raises is dropped, with one log line)."""
        values: dict = {}
        for name in ("gpu", "host"):
            src = getattr(self, name)
            if src is None:
                continue
            try:
                values.update(src.sample())
            except Exception as exc:
                setattr(self, name, None)
                self.log(f"system metrics: {name} source stopped: {type(exc).__name__}: {exc}")
        if values:
            with self.lock:
                self.samples.append(values)

    def start(self) -> SystemMetrics:
        if self.every_s > 0 and self.has_sources and self.thread is None:
            self.sample_now()
            self.thread = threading.Thread(target=self._loop, daemon=True, name="trapo-system-metrics")
            self.thread.start()
        return self

    def _loop(self) -> None:
        period = max(self.every_s / 5, 0.05)
        while not self.stop_event.wait(period):
            self.sample_now()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=2)
        if self.gpu is not None:
            self.gpu.close()

    def collect(self, force: bool = False) -> dict:
        """The `system/*` metrics of the samples since the last report, once `every_s` has passed (or `force`)."""
        if self.every_s <= 0 or not self.has_sources:
            return {}
        now = self.clock()
        if not force and now - self.last_report < self.every_s:
            return {}
        self.last_report = now
        with self.lock:
            samples, self.samples = self.samples, []
        return summarise(samples, self.torch.read() if self.torch is not None else {})


def summarise(samples: list[dict], torch_values: dict) -> dict:
    """Pure: raw samples (gpu_util %, gpu_mem bytes, gpu_mem_total, rss bytes, cpu %, host_mem_pct) to metrics."""
    out = dict(torch_values)

    def pick(key):
        return [s[key] for s in samples if key in s]

    util, mem, total = pick("gpu_util"), pick("gpu_mem"), pick("gpu_mem_total")
    if util:
        out["system/gpu_util_pct"] = sum(util) / len(util)
    if mem:
        out["system/gpu_memory_gb"] = max(mem) / GB
        if total and total[-1] > 0:
            out["system/gpu_memory_pct"] = 100.0 * max(mem) / total[-1]
    rss, cpu, host = pick("rss"), pick("cpu"), pick("host_mem_pct")
    if rss:
        out["system/rss_gb"] = max(rss) / GB
    if cpu:
        out["system/cpu_pct"] = sum(cpu) / len(cpu)
    if host:
        out["system/host_memory_pct"] = max(host)
    return out
