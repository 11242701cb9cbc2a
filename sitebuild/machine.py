"""The machine a run happened on, as the results files record it."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> dict:
    """CPU model and count, and the device JAX runs on (imports jax)."""
    import jax

    device = jax.devices()[0]
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": device.platform,
        "device_kind": device.device_kind,
    }
