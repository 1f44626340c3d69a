"""`python -m trapo serve`, the live prompt's service: the protocol in process (load, generate, stream, cancel, bad
requests, missing checkpoints, out of memory) on the tiny model and a random-weight Qwen2 with a byte-level BPE
tokenizer, and once through the real command line."""

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import model_dirs
import pytest
import torch

from trapo.generation import TorchGenerator
from trapo.live_model import IncrementalText, ServeError, available_engines, live_prompt_ids, stop_ids
from trapo.models import load_policy
from trapo.serve import Service

TRAINER = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    return {
        "tiny": model_dirs.tiny_checkpoint(root / "tiny"),
        "qwen": model_dirs.qwen2_checkpoint(root / "qwen"),
        "eot": model_dirs.qwen2_checkpoint(root / "eot", always_endoftext=True),
    }


class _Lines:
    """What the service writes, one parsed JSON object a line, in a queue."""

    def __init__(self):
        self.q: queue.Queue[dict] = queue.Queue()
        self.buf = ""

    def write(self, s: str) -> None:
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            self.q.put(json.loads(line))

    def flush(self) -> None:
        pass


class Client:
    def __init__(self, **kw):
        self.out = _Lines()
        self.inq: queue.Queue = queue.Queue()
        self.service = Service(self.out, device="cpu", log=lambda m: None, **kw)
        self.thread = threading.Thread(target=self.service.serve_lines, args=(iter(self.inq.get, None),), daemon=True)
        self.thread.start()
        self.ready = self.next()
        self.n = 0

    def send(self, op: str, **fields) -> int:
        self.n += 1
        self.inq.put(json.dumps({"id": self.n, "op": op, **fields}) + "\n")
        return self.n

    def raw(self, line: str) -> None:
        self.inq.put(line + "\n")

    def next(self, timeout: float = 120) -> dict:
        return self.out.q.get(timeout=timeout)

    def until_final(self, rid, timeout: float = 120) -> list[dict]:
        """Every message up to and including the request's ok/error line."""
        got = []
        while True:
            m = self.next(timeout)
            got.append(m)
            if m.get("id") == rid and m["type"] in ("ok", "error"):
                return got

    def request(self, op: str, **fields) -> dict:
        return self.until_final(self.send(op, **fields))[-1]

    def close(self) -> None:
        self.inq.put(None)  # end of input
        self.thread.join(60)
        assert not self.thread.is_alive()


@pytest.fixture
def client():
    c = Client()
    yield c
    c.close()


def test_ready_line(client):
    assert client.ready["type"] == "ready" and client.ready["protocol"] == 1
    assert client.ready["device"] == "cpu" and "torch" in client.ready["engines"]


def test_an_engine_that_is_not_there_is_refused_at_start():
    with pytest.raises(ServeError, match="--engine 'sglang': use auto, torch or vllm"):
        Service(_Lines(), device="cpu", engine="sglang")
    if "vllm" not in available_engines():
        with pytest.raises(ServeError, match="engine vllm is not available here"):
            Service(_Lines(), device="cpu", engine="vllm")


@pytest.mark.parametrize("engine", ["torch", "auto"])
def test_a_vllm_runs_checkpoint_is_served_by_the_torch_engine(tmp_path, engine):
    """The live prompt always generates with the torch engine (the extension passes --engine torch; auto is torch
    too), also for a run trained with rollout.engine: vllm: it streams token by token, where two vLLM engines (one per
    slot, each at the run's gpu_memory_utilization) would not fit in one process."""
    run = tmp_path / "run"
    ckpt = model_dirs.tiny_checkpoint(run / "checkpoints" / "000010")
    (run / "run.json").write_text(json.dumps({"config": {"rollout": {"engine": "vllm"}}}), encoding="utf-8")
    c = Client(engine=engine)
    try:
        m = c.request("load", slot="a", checkpoint=str(ckpt))
        assert m["type"] == "ok", m
        slot = c.service.slots["a"]
        assert slot.run_config["rollout"]["engine"] == "vllm", "the run's config was read"
        assert isinstance(slot.engine, TorchGenerator)
        got = c.until_final(c.send("generate", slots=["a"], prompt="1+1", max_tokens=6, prompt_mode="raw"))
        assert got[-1]["type"] == "ok", got[-1]
        done = [x for x in got if x["type"] == "done"][0]
        assert done["tokens"] >= 1 and done["first_token_seconds"] is not None
    finally:
        c.close()


def test_bad_requests_are_answered_and_the_service_reads_on(client):
    client.raw("this is not json")
    m = client.next()
    assert (m["id"], m["type"], m["code"]) == (None, "error", "bad_request") and "not JSON" in m["message"]
    client.raw(json.dumps({"op": "status"}))
    assert "needs an \"id\"" in client.next()["message"]
    for fields, words in [
        ({"op": "frobnicate"}, "unknown op 'frobnicate'"),
        ({"op": "load", "slot": "c", "checkpoint": "x"}, "slot must be one of"),
        ({"op": "load", "slot": "a"}, "checkpoint must be a directory"),
        ({"op": "generate", "slots": ["a"], "prompt": "x", "max_tokens": 0}, "max_tokens must be an integer"),
        ({"op": "generate", "slots": ["a"], "prompt": "x", "max_tokens": 4, "temperature": -1}, "temperature"),
        ({"op": "generate", "slots": ["a", "a"], "prompt": "x", "max_tokens": 4}, "distinct slots"),
        ({"op": "generate", "slots": ["a"], "prompt": "x", "max_tokens": 4, "prompt_mode": "x"}, "prompt_mode"),
        ({"op": "cancel"}, "target must be the id"),
    ]:
        op = fields.pop("op")
        m = client.request(op, **fields)
        assert (m["type"], m["code"]) == ("error", "bad_request"), m
        assert words in m["message"], (words, m)
    m = client.request("generate", slots=["a"], prompt="x", max_tokens=4)
    assert (m["code"], m["message"]) == ("not_loaded", "generate: no model loaded in slot a")
    assert client.request("status")["slots"] == {}


def test_missing_checkpoint_is_an_error_message(client, tmp_path):
    m = client.request("load", slot="a", checkpoint=str(tmp_path / "checkpoints" / "000200"))
    assert (m["type"], m["code"]) == ("error", "not_found")
    assert "does not exist" in m["message"] and "000200" in m["message"]
    m = client.request("load", slot="b", checkpoint=str(tmp_path))
    assert (m["code"], m["message"]) == ("not_found", f"{tmp_path} is not a model checkpoint: it has no config.json")


def _greedy_reference(path: Path, prompt: str, max_tokens: int) -> tuple[str, int, bool]:
    """(text, tokens, stopped on a stop id) of the trainer's batched engine for one prompt."""
    model, tok, _ = load_policy(str(path), device="cpu")
    _, ids = live_prompt_ids(tok, prompt, "training", None)
    stops = stop_ids(model, tok)
    out = TorchGenerator().generate(model, [ids], max_new_tokens=max_tokens, temperature=0.0,
                                    eos_token_id=stops[0], pad_token_id=tok.pad_token_id)[0]
    eos = bool(out) and out[-1] in stops
    body = out[:-1] if eos else out
    return tok.decode(body, skip_special_tokens=True), len(body), eos


def test_load_generate_streams_the_trainers_greedy_answer(client, dirs):
    m = client.request("load", slot="a", checkpoint=str(dirs["tiny"]))
    assert m["type"] == "ok" and m["parameters"] == 832384 and m["dtype"] == "float32" and m["chat_template"]
    prompt = "Compute 7 - 2 + 3 * 4."
    got = client.until_final(client.send("generate", slots=["a"], prompt=prompt, max_tokens=40, temperature=0))
    tokens = [x for x in got if x["type"] == "token"]
    (done,) = [x for x in got if x["type"] == "done"]
    text, n, eos = _greedy_reference(dirs["tiny"], prompt, 40)
    assert "".join(t["text"] for t in tokens) == text
    assert len(tokens) > 1, "streamed as it came, not in one piece"
    assert done["tokens"] == n and done["stopped"] == ("eos" if eos else "max_tokens")
    assert done["prompt_tokens"] > 10 and 0 < done["first_token_seconds"] <= done["seconds"]
    assert got[-1]["type"] == "ok"


def test_two_slots_stream_side_by_side_and_the_second_stop_id_stops(client, dirs):
    assert client.request("load", slot="a", checkpoint=str(dirs["qwen"]))["stop_ids"] == [0, 2]
    assert client.request("load", slot="b", checkpoint=str(dirs["eot"]))["type"] == "ok"
    got = client.until_final(client.send("generate", slots=["a", "b"], prompt="Héllo 数学", max_tokens=12,
                                         temperature=0, prompt_mode="chat"))
    done = {x["slot"]: x for x in got if x["type"] == "done"}
    # b emits <|endoftext|> at once: a stop id from generation_config, not the tokenizer's eos (<|im_end|>)
    assert (done["b"]["stopped"], done["b"]["tokens"]) == ("eos", 0)
    assert (done["a"]["stopped"], done["a"]["tokens"]) == ("max_tokens", 12)
    assert got.index(done["b"]) < got.index(done["a"]), "b's answer ended while a's went on"


def test_sampling_is_seeded(client, dirs):
    client.request("load", slot="a", checkpoint=str(dirs["tiny"]))

    def answer(seed):
        got = client.until_final(client.send("generate", slots=["a"], prompt="Compute 2 + 3.", max_tokens=16,
                                             temperature=1.0, seed=seed))
        return "".join(x["text"] for x in got if x["type"] == "token")

    first = answer(5)
    assert answer(5) == first
    assert any(answer(s) != first for s in (6, 7, 8))


def test_cancel_stops_a_generation_between_two_tokens(client, dirs):
    client.request("load", slot="a", checkpoint=str(dirs["qwen"]))  # greedy repeats one token: it never stops
    rid = client.send("generate", slots=["a"], prompt="x", max_tokens=32768, temperature=0, prompt_mode="raw")
    first = client.next()
    assert (first["id"], first["type"]) == (rid, "token")
    cancel = client.send("cancel", target=rid)
    got = client.until_final(rid)
    (done,) = [x for x in got if x["type"] == "done"]
    assert done["stopped"] == "cancelled" and 1 <= done["tokens"] < 32768
    assert {"id": cancel, "type": "ok"} in got or client.next() == {"id": cancel, "type": "ok"}
    # the service goes on: a new generation after a cancelled one
    got = client.until_final(client.send("generate", slots=["a"], prompt="x", max_tokens=3, prompt_mode="raw"))
    assert [x["tokens"] for x in got if x["type"] == "done"] == [3]


def test_unload_empties_the_slot(client, dirs):
    client.request("load", slot="a", checkpoint=str(dirs["tiny"]))
    assert client.request("unload", slot="a")["unloaded"] == ["a"]
    assert client.request("generate", slots=["a"], prompt="x", max_tokens=2)["code"] == "not_loaded"


def test_out_of_memory_is_a_message_not_a_dead_service(dirs):
    def oom_loader(path, **kw):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    c = Client(loader=oom_loader)
    try:
        m = c.request("load", slot="a", checkpoint=str(dirs["tiny"]))
        assert (m["type"], m["code"]) == ("error", "out_of_memory")
        assert "out of memory loading" in m["message"] and "20.00 GiB" in m["message"]
        assert c.request("status")["type"] == "ok"
    finally:
        c.close()
    c = Client()
    try:
        c.request("load", slot="a", checkpoint=str(dirs["tiny"]))
        c.request("load", slot="b", checkpoint=str(dirs["tiny"]))
        def stream(model, *a, **kw):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (decode)")
            yield  # a generator, as the engine's

        c.service.slots["b"].engine.stream = stream
        got = c.until_final(c.send("generate", slots=["a", "b"], prompt="Compute 2 + 3.", max_tokens=5))
        done = {x["slot"]: x for x in got if x["type"] == "done"}
        assert done["b"]["stopped"] == "error" and done["b"]["error"]["code"] == "out_of_memory"
        assert done["a"]["stopped"] in ("eos", "max_tokens"), "one side failing leaves the other running"
    finally:
        c.close()


def test_incremental_text_holds_split_characters_back(dirs):
    _, tok, _ = load_policy(str(dirs["qwen"]), device="cpu")
    text = "Héllo wörld: 数学 🙂 and 🙂🙂"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    inc = IncrementalText(tok)
    pieces = [inc.push(i) for i in ids] + [inc.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_the_command_line_service(dirs):
    """The real process: a ready line, only protocol lines on stdout, a load and a short answer, shutdown exits 0;
    end of input ends it too."""
    env = {**os.environ, "PYTHONPATH": str(TRAINER)}
    p = subprocess.Popen([sys.executable, "-m", "trapo", "serve", "--device", "cpu", "--threads", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [json.dumps({"id": 1, "op": "load", "slot": "a", "checkpoint": str(dirs["tiny"])}),
                 json.dumps({"id": 2, "op": "generate", "slots": ["a"], "prompt": "Compute 2 + 3.", "max_tokens": 4}),
                 json.dumps({"id": 3, "op": "shutdown"})]
        out, err = p.communicate("\n".join(lines) + "\n", timeout=300)
    finally:
        p.kill()
    msgs = [json.loads(line) for line in out.splitlines()]  # every stdout line is protocol JSON
    assert msgs[0]["type"] == "ready" and p.returncode == 0, err[-2000:]
    assert [m["type"] for m in msgs if m.get("id") == 1] == ["ok"]
    assert [m for m in msgs if m.get("type") == "done"][0]["slot"] == "a"
    assert msgs[-1] == {"id": 3, "type": "ok"}
    assert "slot a:" in err  # the service's log goes to stderr


def test_an_engine_without_streaming_answers_through_the_default_stream():
    """Generator.stream's default (for engines with no streaming path, e.g. a batch-only vLLM call): the whole
    completion from generate, cut after the first stop id of any kind."""
    from trapo.generation import Generator

    class Batch(Generator):
        def generate(self, model, prompts, **kw):
            self.kw = kw
            return [[5, 6, 9, 7, 8]]

    engine = Batch()
    out = list(engine.stream(None, [1, 2], max_new_tokens=5, temperature=0.0, stop_ids=[9, 4]))
    assert out == [5, 6, 9]
    assert engine.kw["max_new_tokens"] == 5 and engine.kw["eos_token_id"] == [4, 9]
