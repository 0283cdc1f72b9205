#!/usr/bin/env python3
"""Independent numpy (float64) forward pass for the MoE architectures moeflow added after the golden set:
glm4moe, dots1, ernie4_5-moe, bailingmoe2, hunyuan-moe, granitemoe and deepseek2 as Kimi-K2 ships it.

Written from llama.cpp's graph code (src/models/glm4-moe.cpp, dots1.cpp, ernie4-5.cpp, ernie4-5-moe.cpp, bailingmoe2.cpp, hunyuan-moe.cpp, granite-moe.cpp,
granite.cpp,
deepseek2.cpp,
the loaders' parts of src/llama-model.cpp, build_moe_ffn in src/llama-graph.cpp), not from moeflow's Java. The helpers (rmsnorm,
rope, attention, ffn, moe) and the deepseek2 MLA block are copied from the golden set's reference,
../shared/golden/reference/forward_f64.py; this copy adds partial NeoX RoPE, per-head q/k norm, optional
q/k/v biases, the nextn (MTP) blocks decoding skips, leading dense layers and shared experts as these graphs
use them. gguf_min.py beside it is the golden set's reader, unchanged.

Usage:
  moe_archs_f64.py MODEL.gguf --tokens 1,2,3 --out logits.f32 [--json record.json]

--json writes the record Float64ReferenceArchitecturesTest reads: the tokens and the model file's SHA-256.
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


def rope(x, pos, n_rot, base, neox):
    """x: [T, H, D]; rotate the first n_rot dims (the rest pass through). NORM: pairs (2i, 2i+1); NEOX: (i, i + n_rot/2)."""
    x = x.copy()
    half = n_rot // 2
    inv = base ** (-np.arange(half, dtype=F) * 2.0 / n_rot)
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
    """deepseek2's multi-head latent attention (absorbed), as in the golden reference (no YaRN)."""
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
    q_pe = rope(q_pe, pos, n_rot, base, False)
    k_pe = rope(k_pe[:, None, :], pos, n_rot, base, False)
    kv_c = rmsnorm(kv_c, M.t(p + "attn_kv_a_norm.weight"), eps)
    wkb = M.t(p + "attn_k_b.weight")  # [H, kv_lora, nope]
    wvb = M.t(p + "attn_v_b.weight")  # [H, dv, kv_lora]
    q_abs = np.einsum("hln,thn->thl", wkb, q_nope)
    Q = np.concatenate([q_abs, q_pe], axis=2)
    K = np.concatenate([kv_c[:, None, :], k_pe], axis=2)
    o = attention(Q, K, kv_c[:, None, :], 1.0 / np.sqrt(dk))
    o = np.einsum("hvl,thl->thv", wvb, o).reshape(T, H * dv)
    return o @ M.t(p + "attn_output.weight").T


GATING = {1: "softmax", 2: "sigmoid"}


def forward(M: Model, tokens):
    arch = M.arch
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
            attn = gqa(M, p, n, pos, neox=arch not in ("ernie4_5-moe", "granitemoe"), qk_norm_after_rope=arch == "hunyuan-moe",
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
    a = ap.parse_args()
    toks = [int(t) for t in a.tokens.split(",")]
    lg = forward(Model(a.model), toks)
    lg.astype("<f4").tofile(a.out)
    if a.json:
        with open(a.model, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        with open(a.json, "w") as f:
            json.dump({"model_file": os.path.basename(a.model) + " (written by TinyArchFiles, not committed)", "model_sha256": sha,
                       "token_ids": toks, "n_vocab": int(lg.shape[1]), "logits_layout": "[n_tokens][n_vocab] float32 little endian",
                       "generated_by": f"moe_archs_f64.py {os.path.basename(a.model)} --tokens <token_ids> --out {os.path.basename(a.out)}"},
                      f, indent=1)
            f.write("\n")
    print(f"{os.path.basename(a.model)}: {lg.shape[0]} x {lg.shape[1]} logits, |max| {np.abs(lg).max():.4f}")


if __name__ == "__main__":
    main()
