"""Chapter "Derivatives with JAX", part two: derivatives by finite differences."""

import jax  # these three are shown by snippets/derivatives.py:setup
import jax.numpy as jnp
import matplotlib.pyplot as plt

# --8<-- [start:setup]
import numpy as np
# --8<-- [end:setup]


# --8<-- [start:differences]
def forward_difference(f, x, h):
    """(f(x + h) - f(x)) / h: truncation error grows like h."""
    return (f(x + h) - f(x)) / h


def central_difference(f, x, h):
    """(f(x + h) - f(x - h)) / 2h: the h-terms cancel, error grows like h^2."""
    return (f(x + h) - f(x - h)) / (2 * h)


# --8<-- [end:differences]


# --8<-- [start:difference_errors]
def check_steps(hs):
    """Step sizes must be a 1-D array of positive, finite numbers."""
    hs = np.asarray(hs, dtype=np.float64)
    if hs.ndim != 1 or hs.size == 0:
        raise ValueError(f"pass the steps h as a non-empty 1-D array, got shape {hs.shape}")
    if not np.all(np.isfinite(hs) & (hs > 0)):
        raise ValueError(f"every step h must be positive and finite, got {hs[~(hs > 0)][:3]}")
    return hs


def difference_errors(f, exact, x, hs, dtype):
    """|difference - exact| for the forward and the central difference, per step h.

    `f` is evaluated in `dtype` (float32, or float64 inside `jax.enable_x64()`);
    `exact` is the true derivative at `x`, a Python float.
    """
    hs = check_steps(hs)
    if jnp.dtype(dtype) == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError("float64 needs 64-bit JAX: call this inside `with jax.enable_x64():`")
    x, h = jnp.asarray(x, dtype), jnp.asarray(hs, dtype)  # (n_steps,)
    forward = np.abs(np.asarray(forward_difference(f, x, h), np.float64) - exact)
    central = np.abs(np.asarray(central_difference(f, x, h), np.float64) - exact)
    return forward, central


# --8<-- [end:difference_errors]


# --8<-- [start:fit_slope]
def fit_slope(hs, errors, h_min, h_max):
    """Slope of log10(error) against log10(h) for h in [h_min, h_max]."""
    hs, errors = check_steps(hs), np.asarray(errors)
    keep = (hs >= h_min) & (hs <= h_max) & (errors > 0)
    if keep.sum() < 3:
        raise ValueError(f"only {keep.sum()} steps lie in [{h_min}, {h_max}]; widen the range")
    slope, _intercept = np.polyfit(np.log10(hs[keep]), np.log10(errors[keep]), 1)
    return float(slope)


# --8<-- [end:fit_slope]


# --8<-- [start:plot_difference_errors]
def plot_difference_errors(axes, hs, errors_by_dtype):
    """One log-log panel per dtype: the error of each difference against h."""
    for ax, (name, (forward, central)) in zip(axes, errors_by_dtype.items(), strict=True):
        ax.loglog(hs, np.maximum(forward, 1e-18), label="forward")
        ax.loglog(hs, np.maximum(central, 1e-18), label="central")
        ax.axhline(np.finfo(name).eps, color="gray", ls=":", label="machine epsilon")
        ax.set(title=name, xlabel="step $h$", ylim=(1e-17, 10))
    axes[0].set_ylabel("absolute error")
    axes[0].legend(loc="lower left")


# --8<-- [end:plot_difference_errors]


if __name__ == "__main__":
    # --8<-- [start:one_difference]
    x0, h = 1.0, 1e-3
    print(f"forward difference: {forward_difference(jnp.sin, x0, h):.7f}")
    print(f"central difference: {central_difference(jnp.sin, x0, h):.7f}")
    print(f"exact, cos(1.0):    {np.cos(x0):.7f}")
    # --8<-- [end:one_difference]

    # --8<-- [start:sweep_steps]
    hs = np.logspace(-15, 0, 61)  # 1e-15 ... 1, four steps per decade
    exact = float(np.cos(x0))  # the true derivative, in float64
    errors = {"float32": difference_errors(jnp.sin, exact, x0, hs, jnp.float32)}
    with jax.enable_x64():
        errors["float64"] = difference_errors(jnp.sin, exact, x0, hs, jnp.float64)
        autodiff64 = abs(float(jax.grad(jnp.sin)(jnp.float64(x0))) - exact)
    autodiff32 = abs(float(jax.grad(jnp.sin)(jnp.float32(x0))) - exact)
    for name, (forward, central) in errors.items():
        print(
            f"{name}: best forward h = {hs[forward.argmin()]:.0e} "
            f"(error {forward.min():.1e}), best central h = "
            f"{hs[central.argmin()]:.0e} (error {central.min():.1e})"
        )
    print(f"autodiff error: float32 {autodiff32:.1e}, float64 {autodiff64:.1e}")
    # --8<-- [end:sweep_steps]

    # --8<-- [start:draw_difference_errors]
    fig, axes = plt.subplots(1, 2, num="difference_errors", figsize=(8, 3.4), sharey=True)
    plot_difference_errors(axes, hs, errors)
    plt.show()
    # --8<-- [end:draw_difference_errors]

    # --8<-- [start:slopes]
    forward64, central64 = errors["float64"]
    forward_slope = fit_slope(hs, forward64, 1e-5, 1e-1)
    central_slope = fit_slope(hs, central64, 1e-3, 1e-1)
    print(f"log-log slope, forward: {forward_slope:.2f}, central: {central_slope:.2f}")
    # --8<-- [end:slopes]
