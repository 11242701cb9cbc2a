"""Chapter "Derivatives with JAX": derivatives by finite differences.

The chapter's demonstrations, in page order, are in derivatives.py; its
setup block shows the imports below.
"""

import jax
import jax.numpy as jnp
import numpy as np


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
        raise ValueError(
            f"pass the steps h as a non-empty 1-D array, got {hs.shape}"
        )
    if not np.all(np.isfinite(hs) & (hs > 0)):
        raise ValueError(f"every step h must be positive and finite, got {hs}")
    return hs


def difference_errors(f, exact, x, hs, dtype):
    """|difference - exact| of the forward and the central difference, per h.

    `f` is evaluated in `dtype` (float32, or float64 inside
    `jax.enable_x64()`); `exact` is the true derivative, a Python float."""
    hs = check_steps(hs)
    if jnp.dtype(dtype) == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "float64 needs `with jax.enable_x64():` around the call"
        )
    x, h = jnp.asarray(x, dtype), jnp.asarray(hs, dtype)  # (), (n_steps,)
    forward = np.asarray(forward_difference(f, x, h), np.float64)
    central = np.asarray(central_difference(f, x, h), np.float64)
    return np.abs(forward - exact), np.abs(central - exact)


# --8<-- [end:difference_errors]


# --8<-- [start:fit_slope]
def fit_slope(hs, errors, h_min, h_max):
    """Slope of log10(error) against log10(h) for h in [h_min, h_max]."""
    hs, errors = check_steps(hs), np.asarray(errors)
    keep = (hs >= h_min) & (hs <= h_max) & (errors > 0)
    if keep.sum() < 3:
        raise ValueError(
            f"only {keep.sum()} steps in [{h_min}, {h_max}]: widen it"
        )
    slope, _ = np.polyfit(np.log10(hs[keep]), np.log10(errors[keep]), 1)
    return float(slope)


# --8<-- [end:fit_slope]


# --8<-- [start:plot_difference_errors]
def plot_difference_errors(axes, hs, errors_by_dtype):
    """One log-log panel per dtype: the error of each difference against h."""
    for ax, (name, (forward, central)) in zip(
        axes, errors_by_dtype.items(), strict=True
    ):
        ax.loglog(hs, np.maximum(forward, 1e-18), label="forward")
        ax.loglog(hs, np.maximum(central, 1e-18), label="central")
        eps = np.finfo(name).eps
        ax.axhline(eps, color="gray", ls=":", label="machine epsilon")
        ax.set(title=name, xlabel="step $h$", ylim=(1e-17, 10))
    axes[0].set_ylabel("absolute error")
    axes[0].legend(loc="lower left")


# --8<-- [end:plot_difference_errors]
