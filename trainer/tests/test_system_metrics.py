"""System metrics (trapo.system_metrics) with a mocked nvidia-ml-py, without it, and without psutil; and a CPU run
whose metrics carry system/* host figures and no GPU ones, with no error."""

import types

import pytest

from trapo.system_metrics import GB, SystemMetrics, cuda_index, summarise


class FakeNvml(types.SimpleNamespace):
    """The part of pynvml the sampler uses; utilisation and memory follow a script."""

    def __init__(self, utils, used, total=80 * GB):
        super().__init__(calls=[], utils=list(utils), used=list(used), total=total)

    def nvmlInit(self):
        self.calls.append("init")

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetHandleByIndex(self, i):
        self.calls.append(("index", i))
        return ("gpu", i)

    def nvmlDeviceGetHandleByUUID(self, u):
        self.calls.append(("uuid", u))
        return ("gpu", u)

    def nvmlDeviceGetUtilizationRates(self, h):
        return types.SimpleNamespace(gpu=self.utils.pop(0), memory=0)

    def nvmlDeviceGetMemoryInfo(self, h):
        return types.SimpleNamespace(used=self.used.pop(0), total=self.total, free=0)


class FakeCuda:
    def is_available(self):
        return True

    def memory_allocated(self, i):
        return 3 * GB

    def max_memory_allocated(self, i):
        return 5 * GB


def no_module(name):
    def imp():
        raise ImportError(f"No module named {name!r}")

    return imp


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_gpu_metrics_with_a_mocked_nvml(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    nvml, clock, logs = FakeNvml(utils=[50, 70, 90], used=[10 * GB, 30 * GB, 20 * GB]), Clock(), []
    sm = SystemMetrics(5.0, "cuda:1", logs.append, import_nvml=lambda: nvml, import_psutil=no_module("psutil"),
                       torch_cuda=FakeCuda(), clock=clock)
    assert nvml.calls[:2] == ["init", ("index", 3)]  # logical cuda:1 is physical GPU 3 under CUDA_VISIBLE_DEVICES
    for _ in range(3):
        sm.sample_now()
    assert sm.collect() == {}  # not due yet: reports every 5 s
    clock.t = 5.0
    out = sm.collect()
    assert out == {
        "system/gpu_util_pct": pytest.approx(70.0),
        "system/gpu_memory_gb": pytest.approx(30.0),
        "system/gpu_memory_pct": pytest.approx(37.5),
        "system/torch_allocated_gb": pytest.approx(3.0),
        "system/torch_max_allocated_gb": pytest.approx(5.0),
    }
    assert logs == ["system metrics: no host memory or CPU: psutil is not installed (pip install psutil)"]
    sm.stop()
    assert nvml.calls[-1] == "shutdown"


def test_gpu_by_uuid_and_nvml_errors(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-abc")
    nvml = FakeNvml(utils=[1], used=[1])
    SystemMetrics(5.0, "cuda", import_nvml=lambda: nvml, torch_cuda=FakeCuda())
    assert ("uuid", "GPU-abc") in nvml.calls

    class NVMLError(Exception):
        pass

    broken = FakeNvml(utils=[], used=[])
    broken.nvmlInit = lambda: (_ for _ in ()).throw(NVMLError("Driver Not Loaded"))
    logs = []
    sm = SystemMetrics(5.0, "cuda:0", logs.append, import_nvml=lambda: broken, torch_cuda=FakeCuda())
    assert sm.gpu is None
    assert logs[0] == "system metrics: no GPU utilisation or memory: NVML unavailable: NVMLError: Driver Not Loaded"


def test_without_nvidia_ml_py_on_a_gpu_one_line_and_the_rest():
    logs = []
    sm = SystemMetrics(5.0, "cuda:0", logs.append, import_nvml=no_module("pynvml"), torch_cuda=FakeCuda())
    assert logs == ["system metrics: no GPU utilisation or memory: nvidia-ml-py is not installed "
                    "(pip install nvidia-ml-py)"]
    sm.sample_now()
    out = sm.collect(force=True)
    assert "system/gpu_util_pct" not in out and out["system/torch_max_allocated_gb"] == pytest.approx(5.0)
    assert out["system/rss_gb"] > 0  # psutil is installed in the trainer's environment


def test_cpu_run_never_touches_nvml_and_says_nothing():
    def nvml_must_not_load():
        raise AssertionError("NVML asked for on a CPU run")

    logs = []
    sm = SystemMetrics(5.0, "cpu", logs.append, import_nvml=nvml_must_not_load)
    sm.sample_now()
    out = sm.collect(force=True)
    assert logs == [] and set(out) == {"system/rss_gb", "system/cpu_pct", "system/host_memory_pct"}


def test_nothing_at_all_without_psutil_on_a_cpu():
    sm = SystemMetrics(5.0, "cpu", import_psutil=no_module("psutil"))
    assert not sm.has_sources and sm.start().thread is None and sm.collect(force=True) == {}


def test_a_source_that_fails_is_dropped_with_one_line():
    nvml, logs = FakeNvml(utils=[], used=[]), []  # empty scripts: the first sample raises IndexError
    sm = SystemMetrics(5.0, "cuda:0", logs.append, import_nvml=lambda: nvml, import_psutil=no_module("psutil"),
                       torch_cuda=FakeCuda())
    sm.sample_now()
    sm.sample_now()
    assert sm.gpu is None and sum("gpu source stopped" in m for m in logs) == 1


def test_summarise_by_hand():
    samples = [{"rss": 2 * GB, "cpu": 100.0, "host_mem_pct": 40.0}, {"rss": 3 * GB, "cpu": 50.0, "host_mem_pct": 45.0}]
    assert summarise(samples, {}) == {"system/rss_gb": 3.0, "system/cpu_pct": 75.0, "system/host_memory_pct": 45.0}
    assert summarise([], {}) == {}
    assert cuda_index("cuda:3") == 3 and cuda_index("cuda") == 0 and cuda_index("cpu") is None


def test_the_sampler_thread_samples_and_stops():
    sm = SystemMetrics(0.25, "cpu").start()
    import time

    time.sleep(0.3)
    sm.stop()
    assert not sm.thread.is_alive() and len(sm.samples) >= 2


def test_cpu_training_run_reports_host_metrics(tiny_cfg, tmp_path):
    from conftest import validate_run_dir

    from trapo.train import Trainer

    cfg = tiny_cfg(**{"algorithm": "grpo", "logging.system_metrics_s": 0.01, "anomalies.enabled": "false"})
    Trainer(cfg, tmp_path / "run", log=lambda m: None).run()
    events = validate_run_dir(tmp_path / "run")
    values = [e["values"] for e in events if e["type"] == "metrics"]
    system = {k for v in values for k in v if k.startswith("system/")}
    assert system == {"system/rss_gb", "system/cpu_pct", "system/host_memory_pct"}  # no GPU here, no error
    assert not [e for e in events if e["type"] == "log" and "system metrics" in e["message"]]
