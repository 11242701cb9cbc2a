"""The home page's code: which versions built and tested the site."""

if __name__ == "__main__":
    # --8<-- [start:versions]
    import platform

    import jax
    import jaxlib
    import numpy as np

    device = jax.devices()[0]
    print(
        f"Python {platform.python_version()}, jax {jax.__version__}, "
        f"jaxlib {jaxlib.__version__}, numpy {np.__version__}"
    )
    print(f"JAX runs on: {device.platform} ({device.device_kind})")
    # --8<-- [end:versions]
