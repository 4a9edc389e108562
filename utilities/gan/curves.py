"""The loss-curve PNG: per-step losses, D's outputs and the quality numbers over the epochs."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from utilities.common.figures import save_figure


def save_curves(steps: dict[str, np.ndarray], epochs: dict[str, np.ndarray], dest: str | os.PathLike,
                title: str) -> Path:
    """`steps`: per-step arrays (epoch_float, d_loss, g_loss, d_real, d_fake); `epochs`: per-epoch
    arrays (epoch, d_loss, g_loss, d_real, d_fake, entropy_bits, diversity and, for the cDCGAN, accuracy)."""
    fig = Figure(figsize=(12, 3.8))
    loss_ax, d_ax, q_ax = fig.subplots(1, 3)
    x = steps["epoch_float"]
    for key, label, color in (("d_loss", "discriminator", "tab:blue"), ("g_loss", "generator", "tab:orange")):
        loss_ax.plot(x, steps[key], color=color, alpha=0.25, linewidth=0.8)
        loss_ax.plot(epochs["epoch"], epochs[key], color=color, marker="." if len(epochs["epoch"]) < 40 else None,
                     label=f"{label} (epoch mean)")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="losses (faint: every step)")
    loss_ax.legend(fontsize=8)
    for key, label, color in (("d_real", "D(x), real", "tab:green"), ("d_fake", "D(G(z)), fake", "tab:red")):
        d_ax.plot(x, steps[key], color=color, alpha=0.2, linewidth=0.8)
        d_ax.plot(epochs["epoch"], epochs[key], color=color, label=f"{label} (epoch mean)")
    d_ax.axhline(0.5, color="gray", linestyle=":", linewidth=0.8)
    d_ax.set(xlabel="epoch", ylabel="mean probability 'real'", ylim=(0, 1),
             title="discriminator outputs (faint: every step)")
    d_ax.legend(fontsize=8)
    q_ax.plot(epochs["epoch"], epochs["entropy_bits"], color="tab:purple", label="class entropy (bits)")
    q_ax.axhline(np.log2(10), color="tab:purple", linestyle=":", linewidth=0.8)
    if "diversity" in epochs:
        q_ax.plot(epochs["epoch"], epochs["diversity"], color="tab:cyan", label="within-class diversity (1 = real)")
    q_ax.set(xlabel="epoch", ylabel="bits (max log2 10 = 3.32) / ratio", ylim=(0, 3.5), title="sample quality (judge)")
    lines = [line for line in q_ax.get_lines() if not line.get_label().startswith('_')]
    if "accuracy" in epochs:
        acc_ax = q_ax.twinx()
        lines += acc_ax.plot(epochs["epoch"], 100 * epochs["accuracy"], color="tab:brown",
                             label="conditional accuracy (%)")
        acc_ax.set(ylim=(0, 100), ylabel="% classified as requested")
    q_ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, dest)
