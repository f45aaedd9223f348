"""DiT parity with the original (golden/transformer_forward) and fast-path equivalence."""

from __future__ import annotations

import pytest
import torch

from conftest import maxdiff
from tolerance import reorder_atol, rms
from scenewright.methods.midi.attention import Attention, attention_backend, attend_mi
from scenewright.methods.midi.transformer import timestep_sinusoid
from scenewright.methods.midi.weights import load_transformer

G = "transformer_forward"


def dit_reorder_atol(dit, out) -> float:
    """Round-off between two float32 DiT runs that sum in other orders (other batch shapes,
    kernels or CPUs): the longest reduction is the 4·width feed-forward, chained once per
    block; activations are of the output's size (every block is layer-normalised)."""
    return reorder_atol(rms(out), 4 * dit.config.width, dit.config.num_layers)


@pytest.fixture(scope="module")
def dit(tiny):
    return load_transformer(tiny)


@pytest.fixture(scope="module")
def run(dit, golden):
    """The MI forward with hooks capturing the intermediates the golden stores."""
    g = golden(G)
    caught: dict[str, torch.Tensor] = {}
    hooks = []

    def grab(name):
        return lambda mod, inp, out: caught.__setitem__(name, out)
    b0 = dit.blocks[0]
    for part in ("norm1", "attn1", "norm2", "attn2", "norm2_2", "attn2_2", "norm3", "ff"):
        hooks.append(getattr(b0, part).register_forward_hook(grab(f"block0_{part}_out")))
    hooks.append(dit.blocks[8].norm1.register_forward_hook(grab("block8_norm1_out_mi")))
    hooks.append(dit.blocks[8].attn1.register_forward_hook(grab("block8_attn1_out_mi")))
    hooks.append(dit.blocks[11].skip_norm.register_forward_hook(grab("block11_skip_out_mi")))
    hooks.append(dit.norm_out.register_forward_hook(grab("norm_out_out_mi")))
    hooks.append(dit.proj_in.register_forward_hook(grab("proj_in_out")))
    hooks.append(dit.time_proj.register_forward_hook(grab("temb")))
    with torch.no_grad():
        out, blocks = dit(g["hidden_states"], g["timestep"], g["encoder_hidden_states"],
                          g["encoder_hidden_states_2"], num_instances=3, return_block_outputs=True)
    for h in hooks:
        h.remove()
    caught["velocity_mi"] = out
    caught["block_outputs_mi"] = torch.stack(blocks)
    return caught


def test_state_dict_layout(dit, tiny):
    from safetensors import safe_open
    with safe_open(str(tiny / "transformer" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert len(keys) == 743 and set(dit.state_dict()) == keys


@pytest.mark.parametrize("name", ["velocity_mi", "block_outputs_mi", "proj_in_out", "temb",
                                  "block0_norm1_out", "block0_attn1_out", "block0_norm2_out",
                                  "block0_attn2_out", "block0_norm2_2_out", "block0_attn2_2_out",
                                  "block0_norm3_out", "block0_ff_out", "block8_norm1_out_mi",
                                  "block8_attn1_out_mi", "block11_skip_out_mi", "norm_out_out_mi"])
def test_mi_forward_matches_original(run, golden, atol, name):
    assert maxdiff(run[name], golden(G)[name]) <= atol(G, name)


def test_sinusoid(golden, atol):
    g = golden(G)
    assert maxdiff(timestep_sinusoid(g["timestep"], 32), g["t_sinusoid"]) <= atol(G, "t_sinusoid")


def test_plain_forward_and_cfg(dit, golden, atol):
    g = golden(G)
    with torch.no_grad():
        plain = dit(g["hidden_states"], g["timestep"], g["encoder_hidden_states"], g["encoder_hidden_states_2"])
        mi = dit(g["hidden_states"], g["timestep"], g["encoder_hidden_states"], g["encoder_hidden_states_2"],
                 num_instances=3)
    assert maxdiff(plain, g["velocity_plain"]) <= atol(G, "velocity_plain")
    u, c = mi.chunk(2)
    assert maxdiff(u + 7.0 * (c - u), g["velocity_mi_cfg"]) <= atol(G, "velocity_mi_cfg")
    # MI must matter: the two goldens differ by far more than the tolerance.
    assert maxdiff(plain, mi) > 100 * atol(G, "velocity_mi")


def test_fast_paths_equal_reference(dit, golden, atol):
    """Cached cross K/V + fused SDPA give the same answer as the unfused math path."""
    g = golden(G)
    args = (g["hidden_states"], g["timestep"], g["encoder_hidden_states"], g["encoder_hidden_states_2"])
    with torch.no_grad():
        kv = dit.precompute_cross_kv(g["encoder_hidden_states"], g["encoder_hidden_states_2"])
        fast = dit(g["hidden_states"], g["timestep"], num_instances=3, cross_kv=kv)
        with attention_backend("math"):
            ref = dit(*args, num_instances=3)
    assert maxdiff(fast, ref) <= dit_reorder_atol(dit, ref)
    assert maxdiff(fast, g["velocity_mi"]) <= atol(G, "velocity_mi")


def test_mi_attention_equals_explicit_group_concat():
    """attend_mi (queries stacked per group) == every instance attending over the concatenated K/V."""
    gen = torch.Generator().manual_seed(0)
    b, h, t, d, n = 6, 2, 5, 4, 3
    q, k, v = (torch.randn(b, h, t, d, generator=gen) for _ in range(3))
    out = attend_mi(q, k, v, n)
    ref = torch.empty_like(out)
    for i in range(b):
        grp = slice(i // n * n, i // n * n + n)
        kk = k[grp].permute(1, 0, 2, 3).reshape(h, n * t, d)
        vv = v[grp].permute(1, 0, 2, 3).reshape(h, n * t, d)
        w = torch.softmax(q[i] @ kk.transpose(-1, -2) / d ** 0.5, -1)
        ref[i] = w @ vv
    # scores are d-long sums, outputs n·t-long ones: two chained reductions of unit-size terms
    assert maxdiff(out, ref) <= reorder_atol(1.0, n * t, 2)
    with pytest.raises(ValueError):
        attend_mi(q, k, v, 4)


def test_head_major_split_is_not_the_naive_split():
    """The fused split reads to_q rows as [q0 k0 v0 q1 ...]; the naive reading differs."""
    torch.manual_seed(0)
    att = Attention(8, 2)
    x = torch.randn(1, 3, 8)
    q, k, v = att.self_qkv(x)
    w = torch.cat([att.to_q.weight, att.to_k.weight, att.to_v.weight])   # rows: q0 k0 v0 q1 | ...
    tol = reorder_atol(rms(x) * rms(w), 8)        # one 8-long dot product per output
    assert torch.allclose(q[0, 0], x[0] @ w[0:4].T, atol=tol, rtol=0)
    assert torch.allclose(k[0, 0], x[0] @ w[4:8].T, atol=tol, rtol=0)
    assert torch.allclose(v[0, 1], x[0] @ w[20:24].T, atol=tol, rtol=0)
    assert not torch.allclose(q[0, 1], (x[0] @ att.to_q.weight.T)[:, 4:8], atol=1e-3)


def test_zero_condition_shortcut(dit, golden):
    """Skipping the uncond half's cross-attentions (zero conditions) changes nothing."""
    g = golden(G)
    e1, e2 = g["encoder_hidden_states"], g["encoder_hidden_states_2"]
    assert torch.count_nonzero(e1[:3]) == 0 and torch.count_nonzero(e2[:3]) == 0
    with torch.no_grad():
        full = dit(g["hidden_states"], g["timestep"], e1, e2, num_instances=3)
        short = dit(g["hidden_states"], g["timestep"], e1[3:], e2[3:], num_instances=3, zero_cond_rows=3)
        kv = dit.precompute_cross_kv(e1[3:], e2[3:])
        cached = dit(g["hidden_states"], g["timestep"], num_instances=3, cross_kv=kv, zero_cond_rows=3)
    # Skipping zero rows changes the batch shapes, hence the kernels' summation order.
    assert maxdiff(short, full) <= dit_reorder_atol(dit, full)
    assert maxdiff(cached, full) <= dit_reorder_atol(dit, full)


def test_full_size_layout_matches_the_released_model():
    """Default configs build the released sizes: DiT 1681.9 M params in 743 tensors,
    VAE 242.7 M in 356 (reference §2.3/§2.4), with the hub's key shapes."""
    from scenewright.methods.midi.transformer import MIDITransformer
    from scenewright.methods.midi.vae import MIDIVAE
    with torch.device("meta"):
        dit, vae = MIDITransformer(), MIDIVAE()
    sd = dit.state_dict()
    assert len(sd) == 743 and round(sum(p.numel() for p in dit.parameters()) / 1e5) == 16819
    assert sd["blocks.11.skip_linear.weight"].shape == (2048, 4096)
    assert sd["blocks.0.attn2_2.to_k.weight"].shape == (2048, 1024)
    assert sd["blocks.0.attn1.norm_q.weight"].shape == (128,)
    vsd = vae.state_dict()
    assert len(vsd) == 356 and round(sum(p.numel() for p in vae.parameters()) / 1e5) == 2427
    assert vsd["encoder.proj_in.weight"].shape == (512, 54)
    assert vsd["decoder.blocks.16.attn2.norm_cross.weight"].shape == (1024,)
    assert vsd["decoder.proj_query.weight"].shape == (1024, 51)


def test_packed_weights_are_read_in_place(tiny, golden):
    """After packing, the fused QKV/KV weight is a view of the parameters (no copy), the
    state dict is unchanged, and after a copying .to() the cached-copy path still agrees."""
    from scenewright.methods.midi.attention import pack_attention_weights
    dit = load_transformer(tiny)
    before = {k: v.clone() for k, v in dit.state_dict().items()}
    g = golden(G)
    args = (g["hidden_states"], g["timestep"], g["encoder_hidden_states"], g["encoder_hidden_states_2"])
    pack_attention_weights(dit)
    att = dit.blocks[3].attn1
    fused = att._fused_weight(att.to_q, att.to_k, att.to_v)
    assert fused.data_ptr() == att.to_q.weight.data_ptr() and att._fused is None
    assert torch.equal(fused, torch.cat([att.to_q.weight, att.to_k.weight, att.to_v.weight]))
    kv = dit.blocks[3].attn2_2._fused_weight(dit.blocks[3].attn2_2.to_k, dit.blocks[3].attn2_2.to_v)
    assert kv.data_ptr() == dit.blocks[3].attn2_2.to_k.weight.data_ptr()
    after = dit.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
    with torch.no_grad():
        packed = dit(*args, num_instances=3)
        dit.to(torch.float64).to(torch.float32)          # copies: packing undone
        assert not att._fused_weight(att.to_q, att.to_k, att.to_v).data_ptr() == att.to_q.weight.data_ptr()
        unpacked = dit(*args, num_instances=3)
    assert maxdiff(packed, g["velocity_mi"]) <= 1e-4
    assert maxdiff(unpacked, packed) <= dit_reorder_atol(dit, packed)
