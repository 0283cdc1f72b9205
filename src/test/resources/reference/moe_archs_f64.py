#!/usr/bin/env python3
"""Independent numpy (float64) forward pass for the MoE architectures moeflow added after the golden set:
glm4moe, dots1, ernie4_5-moe, bailingmoe2, hunyuan-moe, granitemoe, llama4 and deepseek2 as Kimi-K2 ships it.

Written from llama.cpp's graph code (src/models/glm4-moe.cpp, dots1.cpp, ernie4-5.cpp, ernie4-5-moe.cpp, bailingmoe2.cpp, hunyuan-moe.cpp, granite-moe.cpp,
granite.cpp, llama4.cpp (with is_masked_swa and set_swa_pattern of src/llama-hparams.cpp, llm_graph_input_attn_temp),
deepseek2.cpp,
the loaders' parts of src/llama-model.cpp, build_moe_ffn in src/llama-graph.cpp), not from moeflow's Java. The helpers (rmsnorm,
rope, attention, ffn, moe) and the deepseek2 MLA block are copied from the golden set's reference,
../shared/golden/reference/forward_f64.py; this copy adds partial NeoX RoPE, per-head q/k norm, optional
q/k/v biases, the nextn (MTP) blocks decoding skips, leading dense layers and shared experts as these graphs
use them. gguf_min.py beside it is the golden set's reader, unchanged.

Usage:
  moe_archs_f64.py MODEL.gguf --tokens 1,2,3 --out logits.f32 [--json record.json]

--json writes the record Float64ReferenceArchitecturesTest reads: the tokens and the model file's SHA-256.
--mutate qk-norm-before-rope computes hunyuan-moe with the norms before RoPE (the test's wrong-order logits); the
llama4-* mutations compute llama4 without one of its features (Llama4ReferenceTest's far-away logits).
--llama4-chunk N / --llama4-temp-floor N replace llama.cpp's fixed 8192 (chunk size, temperature step), so that a short
sequence crosses chunks and temperature steps; the JSON record keeps them for the test.
The tiny files come from the test itself: run it with -Dmoeflow.tinyarch.dir=DIR to get copies in DIR.
"""
from __future__ import annotations

import argparse
import hashlib
import json
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

    def opt(self, name):
        return self.t(name) if name in self.names else None

    def has(self, name):
        return name in self.names


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, n_rot, base, neox, factors=None):
    """x: [T, H, D]; rotate the first n_rot dims (the rest pass through). NORM: pairs (2i, 2i+1); NEOX: (i, i + n_rot/2).
    factors: llama3's rope_freqs, dividing each pair's angle (ggml_rope_ext's freq_factors)."""
    x = x.copy()
    half = n_rot // 2
    inv = base ** (-np.arange(half, dtype=F) * 2.0 / n_rot)
    if factors is not None:
        inv = inv / factors
    ang = pos[:, None].astype(F) * inv[None, :]  # [T, half]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if neox:
        a, b = x[..., :half].copy(), x[..., half:n_rot].copy()
        x[..., :half] = a * c - b * s
        x[..., half:n_rot] = a * s + b * c
    else:
        a, b = x[..., 0:n_rot:2].copy(), x[..., 1:n_rot:2].copy()
        x[..., 0:n_rot:2] = a * c - b * s
        x[..., 1:n_rot:2] = a * s + b * c
    return x


def yarn(M):
    """deepseek2 with rope.scaling.type yarn, as llama.cpp sets it up (llama-context.cpp, deepseek2.cpp): returns
    (freq_scale, ext_factor, corr_dims, rope mscale, kq_scale multiplier) or None without YaRN."""
    if M.hp("rope.scaling.type", "none") != "yarn":
        return None
    factor = M.hp("rope.scaling.factor")
    n_rot = M.hp("rope.dimension_count")
    base = M.hp("rope.freq_base", 10000.0)
    orig = M.hp("rope.scaling.original_context_length")
    log_mul = M.hp("rope.scaling.yarn_log_multiplier", 0.0) / 0.1  # deepseek2.cpp cancels the converter's 0.1

    def get_mscale(scale, mscale):
        return 1.0 if scale <= 1.0 else 0.1 * mscale * np.log(scale) + 1.0

    if log_mul != 0.0:
        mscale = log_mul if log_mul != 1.0 else 1.0  # llama-context.cpp's deepseek2 special case
        attn_factor = get_mscale(factor, mscale) / get_mscale(factor, log_mul)
    else:
        attn_factor = get_mscale(factor, 1.0)
    attn_factor *= 1.0 / (1.0 + 0.1 * np.log(factor))  # cancelled again inside ggml's rope_yarn
    rope_mscale = attn_factor * (1.0 + 0.1 * np.log(factor))

    def corr_dim(n):
        return n_rot * np.log(orig / (n * 2 * np.pi)) / (2 * np.log(base))

    corr = (max(0.0, np.floor(corr_dim(M.hp("rope.scaling.yarn_beta_fast", 32.0)))),
            min(n_rot - 1.0, np.ceil(corr_dim(M.hp("rope.scaling.yarn_beta_slow", 1.0)))))
    attn_factor_org = attn_factor * (1.0 + 0.1 * np.log(factor))
    kq_mscale = attn_factor_org * (1.0 + 0.1 * log_mul * np.log(factor))
    return 1.0 / factor, 1.0, corr, rope_mscale, kq_mscale * kq_mscale


def rope_yarn(x, pos, n_rot, base, y):
    """ggml's rope_yarn in the NORM layout: each pair's angle blends interpolation (freq_scale * theta) and
    extrapolation (theta) by the ramp over the correction dims; cos/sin times the magnitude factor."""
    freq_scale, ext, (lo, hi), mscale, _ = y
    x = x.copy()
    half = n_rot // 2
    i = np.arange(half, dtype=F)
    extrap = pos[:, None].astype(F) * (base ** (-2.0 * i / n_rot))[None, :]
    ramp = (1.0 - np.clip((i - lo) / max(0.001, hi - lo), 0.0, 1.0)) * ext
    ang = freq_scale * extrap * (1 - ramp) + extrap * ramp
    c, s = (np.cos(ang) * mscale)[:, None, :], (np.sin(ang) * mscale)[:, None, :]
    a, b = x[..., 0:n_rot:2].copy(), x[..., 1:n_rot:2].copy()
    x[..., 0:n_rot:2] = a * c - b * s
    x[..., 1:n_rot:2] = a * s + b * c
    return x


def attention(q, k, v, scale):
    """q [T,H,Dk], k [T,Hkv,Dk], v [T,Hkv,Dv]; causal; head h uses kv head h // (H/Hkv)."""
    T, H, _ = q.shape
    g = H // k.shape[1]
    out = np.zeros((T, H, v.shape[2]), dtype=F)
    i, j = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    for h in range(H):
        kh = h // g
        s = np.where(j > i, -np.inf, (q[:, h, :] @ k[:, kh, :].T) * scale)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        out[:, h, :] = (e / e.sum(axis=1, keepdims=True)) @ v[:, kh, :]
    return out


def silu(x):
    return x / (1.0 + np.exp(-x))


def ffn(x, M, p, suffix=""):
    """llama.cpp build_ffn with LLM_FFN_SILU, LLM_FFN_PAR: down(silu(gate x) * up x)."""
    wg, wu, wd = M.t(p + f"ffn_gate{suffix}.weight"), M.t(p + f"ffn_up{suffix}.weight"), M.t(p + f"ffn_down{suffix}.weight")
    return (silu(x @ wg.T) * (x @ wu.T)) @ wd.T


def moe(M, p, x, gating, norm_w, w_scale, selection_bias=True):
    """build_moe_ffn: router logits, probabilities by the gating, selection on probs + exp_probs_b (within the best
    expert groups when expert_group_count > 1), weights = the unbiased probabilities of the chosen experts,
    optionally renormalised (sum clamped to 2^-14) and scaled."""
    n_exp, k = M.hp("expert_count"), M.hp("expert_used_count")
    groups, groups_used = M.hp("expert_group_count", 0), M.hp("expert_group_used_count", 0)
    logits = x @ M.t(p + "ffn_gate_inp.weight").T
    if gating == "softmax":
        e = np.exp(logits - logits.max(1, keepdims=True))
        probs = e / e.sum(1, keepdims=True)
    elif gating == "sigmoid":
        probs = 1.0 / (1.0 + np.exp(-logits))
    else:
        raise ValueError(gating)
    bias = M.opt(p + "exp_probs_b.bias") if selection_bias else None
    sel = probs + bias if bias is not None else probs.copy()
    if groups > 1:
        T = x.shape[0]
        gsz = n_exp // groups
        gscore = np.sort(sel.reshape(T, groups, gsz), axis=2)[:, :, -2:].sum(2)
        keep = np.argsort(-gscore, axis=1, kind="stable")[:, :groups_used]
        m = np.full((T, groups), True)
        for t in range(T):
            m[t, keep[t]] = False
        sel = np.where(np.repeat(m, gsz, axis=1), -np.inf, sel)
    wg, wu, wd = M.t(p + "ffn_gate_exps.weight"), M.t(p + "ffn_up_exps.weight"), M.t(p + "ffn_down_exps.weight")
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        top = np.argsort(-sel[t], kind="stable")[:k]
        w = probs[t, top].copy()
        if norm_w:
            w = w / max(w.sum(), 6.103515625e-5)
        if w_scale not in (0.0, 1.0):
            w = w * w_scale
        for wi, e in zip(w, top):
            out[t] += wi * (wd[e] @ (silu(wg[e] @ x[t]) * (wu[e] @ x[t])))
    return out


def gqa(M, p, n, pos, neox, qk_norm_after_rope=False, use_rope=True, kq_scale=0.0, output_bias=False):
    """build_qkv (+ optional q/k/v biases), optional per-head q/k RMSNorm, RoPE over the first rope.dimension_count
    values of each head, causal attention with scale 1/sqrt(head_dim) (granite: attention.scale), output projection (+ its bias for granite
    only: glm4moe and ernie pass NULL to build_attn, the other loaders never load one)."""
    T = n.shape[0]
    H, D = M.hp("attention.head_count"), M.hp("embedding_length")
    Hkv = M.hp("attention.head_count_kv", H)
    hd = M.hp("attention.key_length", D // H)
    n_rot = M.hp("rope.dimension_count", hd)
    base = M.hp("rope.freq_base", 10000.0)
    eps = M.hp("attention.layer_norm_rms_epsilon")
    qkv = []
    if M.has(p + "attn_qkv.weight"):  # fused (bailingmoe2): q rows, then k, then v; no bias
        y = n @ M.t(p + "attn_qkv.weight").T
        qkv = [y[:, :H * hd], y[:, H * hd:(H + Hkv) * hd], y[:, (H + Hkv) * hd:]]
    for name in ("attn_q", "attn_k", "attn_v") if not qkv else ():
        y = n @ M.t(p + name + ".weight").T
        b = M.opt(p + name + ".bias")
        qkv.append(y + b if b is not None else y)
    q, k, v = qkv[0].reshape(T, H, hd), qkv[1].reshape(T, Hkv, hd), qkv[2].reshape(T, Hkv, hd)
    qn, kn = M.opt(p + "attn_q_norm.weight"), M.opt(p + "attn_k_norm.weight")
    if not use_rope:  # granite: rope.scaling.finetuned false
        n_rot = 0
    if qk_norm_after_rope:  # hunyuan-moe.cpp: RoPE, then the norms
        q, k = rope(q, pos, n_rot, base, neox), rope(k, pos, n_rot, base, neox)
    if qn is not None:
        q = rmsnorm(q, qn, eps)
    if kn is not None:
        k = rmsnorm(k, kn, eps)
    if not qk_norm_after_rope:
        q, k = rope(q, pos, n_rot, base, neox), rope(k, pos, n_rot, base, neox)
    o = attention(q, k, v, kq_scale if kq_scale else 1.0 / np.sqrt(hd)).reshape(T, H * hd)
    out = o @ M.t(p + "attn_output.weight").T
    ob = M.opt(p + "attn_output.bias") if output_bias else None
    return out + ob if ob is not None else out


def mla(M, p, n, pos):
    """deepseek2's multi-head latent attention (absorbed), as in the golden reference, plus YaRN (Kimi-K2's files)."""
    T = n.shape[0]
    H = M.hp("attention.head_count")
    eps = M.hp("attention.layer_norm_rms_epsilon")
    base = M.hp("rope.freq_base", 10000.0)
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
    y = yarn(M)
    if y is None:
        q_pe = rope(q_pe, pos, n_rot, base, False)
        k_pe = rope(k_pe[:, None, :], pos, n_rot, base, False)
    else:
        q_pe = rope_yarn(q_pe, pos, n_rot, base, y)
        k_pe = rope_yarn(k_pe[:, None, :], pos, n_rot, base, y)
    kv_c = rmsnorm(kv_c, M.t(p + "attn_kv_a_norm.weight"), eps)
    wkb = M.t(p + "attn_k_b.weight")  # [H, kv_lora, nope]
    wvb = M.t(p + "attn_v_b.weight")  # [H, dv, kv_lora]
    q_abs = np.einsum("hln,thn->thl", wkb, q_nope)
    Q = np.concatenate([q_abs, q_pe], axis=2)
    K = np.concatenate([kv_c[:, None, :], k_pe], axis=2)
    o = attention(Q, K, kv_c[:, None, :], (1.0 if y is None else y[4]) / np.sqrt(dk))
    o = np.einsum("hvl,thl->thv", wvb, o).reshape(T, H * dv)
    return o @ M.t(p + "attn_output.weight").T


# llama4's constants, fixed in llama.cpp's loader (n_swa, n_attn_temp_floor_scale); --llama4-chunk/--llama4-temp-floor
LLAMA4 = {"chunk_size": 8192, "temperature_floor": 8192}


def llama4_attention(M, p, n, pos, il):
    """llama4.cpp's attention: build_qkv; on RoPE layers ((il + 1) % 4 != 0) NORM RoPE with rope_freqs (base
    rope.freq_base_swa on chunked layers where the file has one), then ggml_rms_norm without weight on q and k unless
    the model has 128 experts (use_kq_norm; the flip mutation inverts it); on NoPE layers q times the temperature log(floor((pos + 1) / floor) + 1)
    * 0.1 + 1; chunked layers (il % p < p - 1, p = sliding_window_pattern or 4) mask keys before the query's chunk."""
    T = n.shape[0]
    H, D = M.hp("attention.head_count"), M.hp("embedding_length")
    Hkv = M.hp("attention.head_count_kv", H)
    hd = M.hp("attention.key_length", D // H)
    eps = M.hp("attention.layer_norm_rms_epsilon")
    period = M.hp("attention.sliding_window_pattern", 4)
    chunked = (period == 0 or il % period < period - 1) and "llama4-no-chunks" not in MUTATIONS
    use_rope = (il + 1) % 4 != 0 or "llama4-rope-on-every-layer" in MUTATIONS
    qkv = []
    for name in ("attn_q", "attn_k", "attn_v"):
        y = n @ M.t(p + name + ".weight").T
        b = M.opt(p + name + ".bias")
        qkv.append(y + b if b is not None else y)
    q, k, v = qkv[0].reshape(T, H, hd), qkv[1].reshape(T, Hkv, hd), qkv[2].reshape(T, Hkv, hd)
    if use_rope:
        base = M.hp("rope.freq_base", 10000.0)
        if chunked:
            base = M.hp("rope.freq_base_swa", base)
        factors = M.opt("rope_freqs.weight")
        q, k = rope(q, pos, hd, base, False, factors), rope(k, pos, hd, base, False, factors)
        if (M.hp("expert_count") != 128) != ("llama4-flip-qk-l2-norm" in MUTATIONS):
            q = q / np.sqrt(np.mean(q * q, axis=-1, keepdims=True) + eps)
            k = k / np.sqrt(np.mean(k * k, axis=-1, keepdims=True) + eps)
    elif "llama4-no-temperature" not in MUTATIONS:
        temp = np.log(np.floor((pos.astype(F) + 1.0) / LLAMA4["temperature_floor"]) + 1.0) * 0.1 + 1.0
        q = q * temp[:, None, None]
    i, j = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    masked = (j > i) | ((j < (i // LLAMA4["chunk_size"]) * LLAMA4["chunk_size"]) if chunked else False)
    g = H // Hkv
    o = np.zeros((T, H, hd), dtype=F)
    for h in range(H):
        s = np.where(masked, -np.inf, (q[:, h, :] @ k[:, h // g, :].T) / np.sqrt(hd))
        e = np.exp(s - s.max(axis=1, keepdims=True))
        o[:, h, :] = (e / e.sum(axis=1, keepdims=True)) @ v[:, h // g, :]
    return o.reshape(T, H * hd) @ M.t(p + "attn_output.weight").T


def llama4_moe(M, p, x):
    """build_moe_ffn as llama4.cpp calls it: sigmoid of the router logits, top-k on them, no renormalisation, no
    scale, and (weight_before_ffn, arch == LLM_ARCH_LLAMA4) each weight multiplying the expert's input; the shared
    expert (build_ffn over ffn_*_shexp) added."""
    k = M.hp("expert_used_count")
    logits = x @ M.t(p + "ffn_gate_inp.weight").T
    if "llama4-softmax-routing" in MUTATIONS:
        e = np.exp(logits - logits.max(1, keepdims=True))
        probs = e / e.sum(1, keepdims=True)
    else:
        probs = 1.0 / (1.0 + np.exp(-logits))
    wg, wu, wd = M.t(p + "ffn_gate_exps.weight"), M.t(p + "ffn_up_exps.weight"), M.t(p + "ffn_down_exps.weight")
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        for e in np.argsort(-probs[t], kind="stable")[:k]:
            w = probs[t, e]
            if "llama4-weight-after-ffn" in MUTATIONS:
                out[t] += w * (wd[e] @ (silu(wg[e] @ x[t]) * (wu[e] @ x[t])))
            else:
                xin = w * x[t]
                out[t] += wd[e] @ (silu(wg[e] @ xin) * (wu[e] @ xin))
    if "llama4-no-shared-expert" not in MUTATIONS:
        out = out + ffn(x, M, p, "_shexp")
    return out


def forward_llama4(M: Model, tokens):
    T = len(tokens)
    pos = np.arange(T)
    eps = M.hp("attention.layer_norm_rms_epsilon")
    step = M.hp("interleave_moe_layer_step")
    x = M.t("token_embd.weight")[tokens]
    for il in range(M.hp("block_count")):
        p = f"blk.{il}."
        h = x + llama4_attention(M, p, rmsnorm(x, M.t(p + "attn_norm.weight"), eps), pos, il)
        n2 = rmsnorm(h, M.t(p + "ffn_norm.weight"), eps)
        moe_layer = step > 0 and (il + 1) % step == 0
        x = h + (llama4_moe(M, p, n2) if moe_layer else ffn(n2, M, p))
    x = rmsnorm(x, M.t("output_norm.weight"), eps)
    out = M.t("output.weight") if M.has("output.weight") else M.t("token_embd.weight")
    return x @ out.T


GATING = {1: "softmax", 2: "sigmoid"}

# --mutate: reference-side mutations, to show the Java test tells them apart from the real graph.
MUTATIONS: set[str] = set()


def forward(M: Model, tokens):
    arch = M.arch
    if arch == "llama4":
        return forward_llama4(M, tokens)
    T = len(tokens)
    pos = np.arange(T)
    eps = M.hp("attention.layer_norm_rms_epsilon")
    # glm4moe, bailingmoe2, deepseek2: the last nextn_predict_layers blocks are MTP blocks decoding skips.
    L = M.hp("block_count") - (M.hp("nextn_predict_layers", 0) if arch in ("glm4moe", "bailingmoe2", "deepseek2") else 0)
    dense_lead = M.hp("leading_dense_block_count", 0)
    norm_w = bool(M.hp("expert_weights_norm", False))
    w_scale = float(M.hp("expert_weights_scale", 0.0))
    if arch == "glm4moe":
        gating = GATING[M.hp("expert_gating_func", 2) or 2]  # glm4-moe.cpp: none -> sigmoid
    elif arch in ("dots1", "bailingmoe2"):
        gating = GATING[M.hp("expert_gating_func")]  # the file's value (bailingmoe2: a required key; dots1: no default)
    elif arch == "deepseek2":
        gating = GATING[M.hp("expert_gating_func", 1) or 1]
    elif arch == "granitemoe":
        # granite.cpp's build_moe_ffn: softmax, renormalised, no selection bias; no expert_weights_scale is read.
        gating, norm_w, w_scale, dense_lead = "softmax", True, 0.0, 0
    elif arch == "hunyuan-moe":
        # hunyuan-moe.cpp: every layer MoE, softmax, always renormalised, no selection bias; the loader reads no
        # leading_dense_block_count or expert_weights_scale.
        gating, norm_w, w_scale, dense_lead = "softmax", True, 0.0, 0
    elif arch == "ernie4_5-moe":
        # ernie4-5-moe.cpp: softmax, always renormalised; the loader reads no expert_weights_scale (stays 0: none).
        gating, norm_w, w_scale = "softmax", True, 0.0
    else:
        raise ValueError(arch)
    x = M.t("token_embd.weight")[tokens]
    res_scale = 1.0
    if arch == "granitemoe":  # build_inp_embd's embedding_scale; granite.cpp's residual_scale
        x = x * (M.hp("embedding_scale", 0.0) or 1.0)
        res_scale = M.hp("residual_scale", 0.0) or 1.0
    for il in range(L):
        p = f"blk.{il}."
        n = rmsnorm(x, M.t(p + "attn_norm.weight"), eps)
        if arch == "deepseek2":
            attn = mla(M, p, n, pos)
        else:  # llama_model_rope_type: ernie4_5-moe is NORM, the others NEOX
            granite = arch == "granitemoe"
            attn = gqa(M, p, n, pos, neox=arch not in ("ernie4_5-moe", "granitemoe"),
                       qk_norm_after_rope=arch == "hunyuan-moe" and "qk-norm-before-rope" not in MUTATIONS,
                       use_rope=not granite or bool(M.hp("rope.scaling.finetuned", True)),
                       kq_scale=M.hp("attention.scale", 0.0) if granite else 0.0, output_bias=granite)  # none of these graphs adds an output bias
        h = x + attn * res_scale
        # glm4moe's FFN input norm is post_attention_norm (LLM_TENSOR_ATTN_POST_NORM), the others' ffn_norm.
        n2 = rmsnorm(h, M.t(p + ("post_attention_norm.weight" if arch == "glm4moe" else "ffn_norm.weight")), eps)
        moe_layer = il >= dense_lead
        if arch == "ernie4_5-moe":  # interleaved: MoE where (il + 1) % interleave_moe_layer_step == 0
            moe_layer = moe_layer and (il + 1) % M.hp("interleave_moe_layer_step") == 0
        if not moe_layer:
            f = ffn(n2, M, p)
        else:
            f = moe(M, p, n2, gating, norm_w, w_scale, selection_bias=arch not in ("hunyuan-moe", "granitemoe"))
            if M.has(p + "ffn_gate_shexp.weight"):
                f = f + ffn(n2, M, p, "_shexp")
        x = h + f * res_scale
    x = rmsnorm(x, M.t("output_norm.weight"), eps)
    out = M.t("output.weight") if M.has("output.weight") else M.t("token_embd.weight")
    logits = x @ out.T
    return logits / M.hp("logit_scale") if arch == "granitemoe" else logits


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--json")
    ap.add_argument("--mutate", action="append", default=[],
                    choices=["qk-norm-before-rope", "llama4-weight-after-ffn", "llama4-flip-qk-l2-norm", "llama4-rope-on-every-layer",
                             "llama4-no-chunks", "llama4-no-temperature", "llama4-softmax-routing", "llama4-no-shared-expert"],
                    help="compute a deliberately wrong graph (hunyuan-moe: q/k norm before RoPE; llama4: without one feature)")
    ap.add_argument("--llama4-chunk", type=int, default=LLAMA4["chunk_size"], help="llama4 chunk size (llama.cpp: 8192)")
    ap.add_argument("--llama4-temp-floor", type=int, default=LLAMA4["temperature_floor"],
                    help="llama4 temperature position step (llama.cpp: 8192)")
    a = ap.parse_args()
    MUTATIONS.update(a.mutate)
    LLAMA4.update(chunk_size=a.llama4_chunk, temperature_floor=a.llama4_temp_floor)
    toks = [int(t) for t in a.tokens.split(",")]
    lg = forward(Model(a.model), toks)
    lg.astype("<f4").tofile(a.out)
    if a.json:
        with open(a.model, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        with open(a.json, "w") as f:
            json.dump({"model_file": os.path.basename(a.model) + " (written by TinyArchFiles, not committed)", "model_sha256": sha,
                       "token_ids": toks, "n_vocab": int(lg.shape[1]), "logits_layout": "[n_tokens][n_vocab] float32 little endian",
                       "generated_by": f"moe_archs_f64.py {os.path.basename(a.model)} --tokens <token_ids> --out {os.path.basename(a.out)}"
                       + (f" --llama4-chunk {LLAMA4['chunk_size']} --llama4-temp-floor {LLAMA4['temperature_floor']}" if a.llama4_chunk != 8192 or a.llama4_temp_floor != 8192 else ""),
                       **({"llama4_tuning": dict(LLAMA4)} if Model(a.model).arch == "llama4" else {})},
                      f, indent=1)
            f.write("\n")
    print(f"{os.path.basename(a.model)}: {lg.shape[0]} x {lg.shape[1]} logits, |max| {np.abs(lg).max():.4f}")


if __name__ == "__main__":
    main()
