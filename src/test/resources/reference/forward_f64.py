#!/usr/bin/env python3
"""Independent numpy (float64) forward pass for the golden architectures, written from the
description of what llama.cpp computes (src/models/<arch>.cpp, src/llama-graph.cpp), not from its code.

moeflow's copy of ../shared/golden/reference/forward_f64.py, extended for the loader variants its tests write
(see "Variants" below); the shared original is unchanged.

Variants (llama.cpp 34af94cd):
  * per-tensor .scale tensors multiply a projection's product before its bias (build_lora_mm, build_lora_mm_id):
    attn_q/k/v/output.scale for llama, qwen3moe, qwen2moe, gpt-oss; attn_output.scale for olmoe and deepseek2;
    ffn_gate/up/down_exps.scale (one per expert) for llama and qwen3moe; ffn_gate/up/down.scale for llama's dense FFN
  * deepseek2 expert_gating_func 3 (softmax over the selected logits) and 4 (sqrt(softplus(x)), softplus = x above
    20, else log(1 + exp(x)))
  * deepseek2 attention.temperature_scale/_length: the query of position p times
    log(floor(p / length) + 1) * scale + 1
  * llama RoPE: frequency factors (rope_freqs, or LongRoPE's rope_factors_long when context_length exceeds
    rope.scaling.original_context_length, else rope_factors_short), frequency scale 1/rope.scaling.factor (type
    linear, the default, or longrope) and rope.scaling.attn_factor on cos/sin

Supports F32/F16 GGUF files of arch: llama (dense and MoE), qwen3moe, deepseek2 (MLA, softmax or sigmoid
gating, exp_probs_b, expert groups), gpt-oss (sinks, sliding window, swiglu_oai, biases).
A debugging aid: with --dump-layers it prints, for every layer, the residual stream after attention and after
the FFN (L2 norm and first values per position), so a mismatch can be located to a layer and a block.
For quantized files, run it on the F32 file that holds the exact dequantized weights.

Usage:
  forward_f64.py MODEL.gguf --tokens 1,2,3 [--compare logits.f32] [--out ref.f32] [--dump-layers]

Prints max |numpy - llama.cpp| when --compare is given.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_min import GGUFReader  # noqa: E402

F = np.float64


class Model:
    def __init__(self, path):
        self.r = GGUFReader(path)
        self.arch = self.r.kv["general.architecture"]
        self.kv = self.r.kv
        self.names = {t["name"] for t in self.r.tensors}

    def hp(self, key, default=None):
        return self.kv.get(f"{self.arch}.{key}", default)

    def t(self, name):
        return self.r.get_f32(name).astype(F)

    def has(self, name):
        return name in self.names


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, n_rot, base, neox, factors=None, freq_scale=1.0, mscale=1.0):
    """x: [T, H, D]; rotate the first n_rot dims. NORM: pairs (2i, 2i+1); NEOX: pairs (i, i + n_rot/2).
    Angle of pair i: pos * base^(-2i/n_rot) / factors[i] * freq_scale; cos and sin times mscale."""
    x = x.copy()
    half = n_rot // 2
    inv = base ** (-np.arange(half, dtype=F) * 2.0 / n_rot)
    if factors is not None:
        inv = inv / factors
    ang = pos[:, None].astype(F) * inv[None, :] * freq_scale  # [T, half]
    c, s = mscale * np.cos(ang)[:, None, :], mscale * np.sin(ang)[:, None, :]
    if neox:
        a, b = x[..., :half].copy(), x[..., half:n_rot].copy()
        x[..., :half] = a * c - b * s
        x[..., half:n_rot] = a * s + b * c
    else:
        a, b = x[..., 0:n_rot:2].copy(), x[..., 1:n_rot:2].copy()
        x[..., 0:n_rot:2] = a * c - b * s
        x[..., 1:n_rot:2] = a * s + b * c
    return x


def attention(q, k, v, scale, swa=0, sinks=None):
    """q [T,H,Dk], k [T,Hkv,Dk], v [T,Hkv,Dv]; causal; head h uses kv head h // (H/Hkv)."""
    T, H, _ = q.shape
    Hkv = k.shape[1]
    g = H // Hkv
    out = np.zeros((T, H, v.shape[2]), dtype=F)
    for h in range(H):
        kh = h // g
        s = (q[:, h, :] @ k[:, kh, :].T) * scale  # [T, T]
        i, j = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
        mask = j > i
        if swa:
            mask |= (i - j) >= swa
        s = np.where(mask, -np.inf, s)
        m = s.max(axis=1, keepdims=True)
        if sinks is not None:
            m = np.maximum(m, sinks[h])
        e = np.exp(s - m)
        den = e.sum(axis=1, keepdims=True)
        if sinks is not None:
            den = den + np.exp(sinks[h] - m)
        out[:, h, :] = (e / den) @ v[:, kh, :]
    return out


def silu(x):
    return x / (1.0 + np.exp(-x))


def ffn(x, wg, wu, wd):
    return (silu(x @ wg.T) * (x @ wu.T)) @ wd.T


def scale(M, name, applied=True):
    """The one value of tensor `name` (a .scale tensor) where the architecture's graph applies it, else 1."""
    return float(M.t(name).reshape(-1)[0]) if applied and M.has(name) else 1.0


def moe(M, p, x, n_exp, k, gating, norm_w, w_scale, bias=None, groups=0, groups_used=0, oai=False, exp_scales=False):
    """x [T, D]. gating: 'softmax' | 'sigmoid' | 'softmax_weight' (gpt-oss) | 'sqrt_softplus'."""
    logits = x @ M.t(p + "ffn_gate_inp.weight").T
    if M.has(p + "ffn_gate_inp.bias"):
        logits = logits + M.t(p + "ffn_gate_inp.bias")
    if gating == "softmax":
        e = np.exp(logits - logits.max(1, keepdims=True))
        probs = e / e.sum(1, keepdims=True)
    elif gating == "sigmoid":
        probs = 1.0 / (1.0 + np.exp(-logits))
    elif gating == "sqrt_softplus":
        probs = np.sqrt(np.where(logits > 20.0, logits, np.log1p(np.exp(np.minimum(logits, 20.0)))))
    else:
        probs = logits
    sel = probs + bias if bias is not None else probs.copy()
    if groups > 1:
        T = x.shape[0]
        gsz = n_exp // groups
        sg = sel.reshape(T, groups, gsz)
        gscore = np.sort(sg, axis=2)[:, :, -2:].sum(2)  # sum of top-2 per group
        keep = np.argsort(-gscore, axis=1, kind="stable")[:, :groups_used]
        m = np.full((T, groups), True)
        for t in range(T):
            m[t, keep[t]] = False
        sel = np.where(np.repeat(m, gsz, axis=1), -np.inf, sel)
    wg, wu, wd = M.t(p + "ffn_gate_exps.weight"), M.t(p + "ffn_up_exps.weight"), M.t(p + "ffn_down_exps.weight")
    bg = M.t(p + "ffn_gate_exps.bias") if M.has(p + "ffn_gate_exps.bias") else None
    bu = M.t(p + "ffn_up_exps.bias") if M.has(p + "ffn_up_exps.bias") else None
    bd = M.t(p + "ffn_down_exps.bias") if M.has(p + "ffn_down_exps.bias") else None
    ones = np.ones(n_exp, dtype=F)
    sc = {m: (M.t(p + f"ffn_{m}_exps.scale").reshape(-1) if exp_scales and M.has(p + f"ffn_{m}_exps.scale") else ones)
          for m in ("gate", "up", "down")}
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        top = np.argsort(-sel[t], kind="stable")[:k]
        w = probs[t, top].copy()
        if gating == "softmax_weight":
            w = np.exp(w - w.max())
            w /= w.sum()
        if norm_w:
            w = w / max(w.sum(), 6.103515625e-5)
        if w_scale not in (0.0, 1.0):
            w = w * w_scale
        for wi, e in zip(w, top):
            g = (wg[e] @ x[t]) * sc["gate"][e] + (bg[e] if bg is not None else 0)
            u = (wu[e] @ x[t]) * sc["up"][e] + (bu[e] if bu is not None else 0)
            if oai:
                a = np.minimum(g, 7.0)
                y = np.clip(u, -7.0, 7.0)
                h = a / (1.0 + np.exp(-1.702 * a)) * (y + 1.0)
            else:
                h = silu(g) * u
            out[t] += wi * ((wd[e] @ h) * sc["down"][e] + (bd[e] if bd is not None else 0))
    return out


DUMP = False


def _dump(what, x):
    if DUMP:
        for t in range(x.shape[0]):
            print(f"{what:24s} pos {t:3d} |x| {np.linalg.norm(x[t]):.6f} x[:4] {np.array2string(x[t,:4], precision=6)}")


def forward(M: Model, tokens):
    arch = M.arch
    T = len(tokens)
    pos = np.arange(T)
    D = M.hp("embedding_length")
    L = M.hp("block_count")
    H = M.hp("attention.head_count")
    Hkv = M.hp("attention.head_count_kv", H)
    eps = M.hp("attention.layer_norm_rms_epsilon")
    base = M.hp("rope.freq_base", 10000.0)
    n_exp = M.hp("expert_count", 0)
    k_used = M.hp("expert_used_count", 0)
    neox = arch in ("qwen3moe", "gpt-oss")
    qkv_scales = arch in ("llama", "qwen3moe", "qwen2moe", "gpt-oss")
    # llama's RoPE factors and scaling (the other golden architectures have none)
    factors, freq_scale, mscale = None, 1.0, 1.0
    if arch == "llama":
        rs_type = M.hp("rope.scaling.type", "linear")
        if M.has("rope_freqs.weight"):
            factors = M.t("rope_freqs.weight")
        elif rs_type == "longrope":
            ctx = M.hp("context_length")
            use_long = ctx > M.hp("rope.scaling.original_context_length", ctx)
            name = "rope_factors_long.weight" if use_long else "rope_factors_short.weight"
            factors = M.t(name) if M.has(name) else None
        factor = M.hp("rope.scaling.factor", 0.0)
        if rs_type != "none" and factor:
            freq_scale = 1.0 / factor
        mscale = M.hp("rope.scaling.attn_factor", 1.0)
    x = M.t("token_embd.weight")[tokens]
    for il in range(L):
        p = f"blk.{il}."
        n = rmsnorm(x, M.t(p + "attn_norm.weight"), eps)
        if arch == "deepseek2":
            kv_lora = M.hp("attention.kv_lora_rank")
            n_rot = M.hp("rope.dimension_count")
            dk = M.hp("attention.key_length_mla")
            dv = M.hp("attention.value_length_mla")
            nope = dk - n_rot
            if M.has(p + "attn_q.weight"):
                q = n @ M.t(p + "attn_q.weight").T
            else:
                qa = rmsnorm(n @ M.t(p + "attn_q_a.weight").T, M.t(p + "attn_q_a_norm.weight"), eps)
                q = qa @ M.t(p + "attn_q_b.weight").T
            q = q.reshape(T, H, dk)
            q_nope, q_pe = q[..., :nope], q[..., nope:]
            kva = n @ M.t(p + "attn_kv_a_mqa.weight").T
            kv_c, k_pe = kva[:, :kv_lora], kva[:, kv_lora:]
            q_pe = rope(q_pe, pos, n_rot, base, False)
            k_pe = rope(k_pe[:, None, :], pos, n_rot, base, False)
            kv_c = rmsnorm(kv_c, M.t(p + "attn_kv_a_norm.weight"), eps)
            wkb = M.t(p + "attn_k_b.weight")  # [H, kv_lora, nope]
            wvb = M.t(p + "attn_v_b.weight")  # [H, dv, kv_lora]
            q_abs = np.einsum("hln,thn->thl", wkb, q_nope)
            Q = np.concatenate([q_abs, q_pe], axis=2)
            K = np.concatenate([kv_c[:, None, :], k_pe], axis=2)
            V = kv_c[:, None, :]
            t_scale = M.hp("attention.temperature_scale", 0.0)
            if t_scale:
                t_len = M.hp("attention.temperature_length")
                Q = Q * (np.log(np.floor(pos / t_len) + 1.0) * t_scale + 1.0)[:, None, None]
            o = attention(Q, K, V, 1.0 / np.sqrt(dk))  # [T, H, kv_lora]
            o = np.einsum("hvl,thl->thv", wvb, o).reshape(T, H * dv)
            attn = (o @ M.t(p + "attn_output.weight").T) * scale(M, p + "attn_output.scale")
        else:
            hd = M.hp("attention.key_length", D // H)
            n_rot = M.hp("rope.dimension_count", hd)
            q = (n @ M.t(p + "attn_q.weight").T) * scale(M, p + "attn_q.scale", qkv_scales)
            k = (n @ M.t(p + "attn_k.weight").T) * scale(M, p + "attn_k.scale", qkv_scales)
            v = (n @ M.t(p + "attn_v.weight").T) * scale(M, p + "attn_v.scale", qkv_scales)
            if arch != "olmoe":  # olmoe's graph reads no q/k/v biases
                for name in ("q", "k", "v"):
                    if M.has(p + f"attn_{name}.bias"):
                        b = M.t(p + f"attn_{name}.bias")
                        if name == "q":
                            q = q + b
                        elif name == "k":
                            k = k + b
                        else:
                            v = v + b
            q, k, v = q.reshape(T, H, hd), k.reshape(T, Hkv, hd), v.reshape(T, Hkv, hd)
            if arch == "qwen3moe":
                q = rmsnorm(q, M.t(p + "attn_q_norm.weight"), eps)
                k = rmsnorm(k, M.t(p + "attn_k_norm.weight"), eps)
            q = rope(q, pos, n_rot, base, neox, factors, freq_scale, mscale)
            k = rope(k, pos, n_rot, base, neox, factors, freq_scale, mscale)
            swa, sinks = 0, None
            if arch == "gpt-oss":
                sinks = M.t(p + "attn_sinks.weight")
                if il % 2 == 0:  # swa pattern 2, dense_first=false: layers 0,2,4.. use the sliding window
                    swa = M.hp("attention.sliding_window")
            o = attention(q, k, v, 1.0 / np.sqrt(hd), swa, sinks).reshape(T, H * hd)
            attn = (o @ M.t(p + "attn_output.weight").T) * scale(M, p + "attn_output.scale")
            if arch in ("llama", "gpt-oss") and M.has(p + "attn_output.bias"):  # the graphs that pass wo_b
                attn = attn + M.t(p + "attn_output.bias")
        h = x + attn
        _dump(f"layer {il} after attention", h)
        if arch == "gpt-oss":
            n2 = rmsnorm(h, M.t(p + "post_attention_norm.weight"), eps)
        else:
            n2 = rmsnorm(h, M.t(p + "ffn_norm.weight"), eps)
        if not M.has(p + "ffn_gate_inp.weight"):
            dense_scales = arch == "llama"
            g = (n2 @ M.t(p + "ffn_gate.weight").T) * scale(M, p + "ffn_gate.scale", dense_scales)
            u = (n2 @ M.t(p + "ffn_up.weight").T) * scale(M, p + "ffn_up.scale", dense_scales)
            f = ((silu(g) * u) @ M.t(p + "ffn_down.weight").T) * scale(M, p + "ffn_down.scale", dense_scales)
        elif arch == "llama":
            f = moe(M, p, n2, n_exp, k_used, "softmax", True, 0.0, exp_scales=True)
        elif arch == "qwen3moe":
            f = moe(M, p, n2, n_exp, k_used, "softmax", True, 0.0, exp_scales=True)
        elif arch == "deepseek2":
            gf = M.hp("expert_gating_func", 1)
            gating = {1: "softmax", 2: "sigmoid", 3: "softmax_weight", 4: "sqrt_softplus"}[gf]
            f = moe(M, p, n2, n_exp, k_used, gating, bool(M.hp("expert_weights_norm", False)),
                    float(M.hp("expert_weights_scale", 0.0)),
                    bias=M.t(p + "exp_probs_b.bias") if M.has(p + "exp_probs_b.bias") else None,
                    groups=M.hp("expert_group_count", 0), groups_used=M.hp("expert_group_used_count", 0))
            f = f + ffn(n2, M.t(p + "ffn_gate_shexp.weight"), M.t(p + "ffn_up_shexp.weight"), M.t(p + "ffn_down_shexp.weight"))
        elif arch == "gpt-oss":
            f = moe(M, p, n2, n_exp, k_used, "softmax_weight", False, 0.0, oai=True)
        else:
            raise ValueError(arch)
        x = h + f
        _dump(f"layer {il} after ffn", x)
    x = rmsnorm(x, M.t("output_norm.weight"), eps)
    out = M.t("output.weight") if M.has("output.weight") else M.t("token_embd.weight")
    return x @ out.T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--compare")
    ap.add_argument("--out")
    ap.add_argument("--dump-layers", action="store_true")
    a = ap.parse_args()
    toks = [int(t) for t in a.tokens.split(",")]
    global DUMP
    DUMP = a.dump_layers
    M = Model(a.model)
    lg = forward(M, toks)
    if a.out:
        lg.astype("<f4").tofile(a.out)
    if a.compare:
        ref = np.fromfile(a.compare, dtype="<f4").reshape(lg.shape)
        d = np.abs(lg - ref)
        print(f"{os.path.basename(a.model)}: max|numpy-llama.cpp| = {d.max():.3e}  (max per position: "
              f"median {np.median(d.max(1)):.2e}); top1 agree {np.sum(lg.argmax(1) == ref.argmax(1))}/{len(toks)}")


if __name__ == "__main__":
    main()
