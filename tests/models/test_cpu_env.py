"""The CPU training environment: malloc tunables merged into the user's, and bit-identical arithmetic."""

from __future__ import annotations

import subprocess
import sys

from src.models.cpu_env import MALLOC_TUNABLES, training_env, with_malloc_tunables

# A vocabulary-sized loss step (the allocation pattern the tunables are for): logits of 64 tokens over
# 151,680 rows, cross entropy, backward; prints the loss and the gradient's bytes as hex digests.
_CHILD = """
import hashlib, torch
torch.manual_seed(0)
w = torch.randn(151680, 64, requires_grad=True)
h = torch.randn(64, 64)
y = torch.randint(0, 151680, (64,))
for _ in range(3):
    loss = torch.nn.functional.cross_entropy(h @ w.T, y)
    loss.backward()
print(loss.item(), hashlib.sha256(w.grad.numpy().tobytes()).hexdigest())
"""


def test_tunables_are_appended_to_the_users_and_not_twice():
    assert with_malloc_tunables({})["GLIBC_TUNABLES"] == MALLOC_TUNABLES
    merged = with_malloc_tunables({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})["GLIBC_TUNABLES"]
    assert merged == f"glibc.malloc.arena_max=2:{MALLOC_TUNABLES}"
    assert with_malloc_tunables({"GLIBC_TUNABLES": merged})["GLIBC_TUNABLES"] == merged


def test_training_env_sets_threads_and_hides_gpus():
    env = training_env(2, base={"PATH": "/bin"})
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"], env["CUDA_VISIBLE_DEVICES"]) == ("2", "2", "")
    assert env["PATH"] == "/bin" and env["GLIBC_TUNABLES"] == MALLOC_TUNABLES
    assert "OMP_NUM_THREADS" not in training_env(None, base={})


def test_tunables_change_no_bit_of_a_vocabulary_sized_loss_step():
    base = training_env(1)
    base.pop("GLIBC_TUNABLES")
    outs = [subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True).stdout
            for env in (base, training_env(1))]
    assert outs[0] == outs[1] and outs[0].strip()
