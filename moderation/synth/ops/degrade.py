"""Step ``degrade``: give face A the traits of generated faces (blur, compression, noise)."""

from __future__ import annotations

from dataclasses import dataclass

from moderation.synth.functional import degrade as F
from moderation.synth.ops._sampling import (
    check_choices,
    check_odd,
    choice,
    integer,
    odd,
    seed,
    uniform,
)
from moderation.synth.registry import Op, check_range


@dataclass(kw_only=True)
class DegradeOp(Op):
    """An operation that maps image A to a degraded image A of the same shape and dtype."""

    step = "degrade"

    def apply(self, state, **params):
        return state.replace(source=self.kernel(state.source, **params))

    def kernel(self, image, **params):
        raise NotImplementedError


@dataclass(kw_only=True)
class GaussianBlur(DegradeOp):
    name = "gaussian_blur"
    kernels: tuple[int, ...] = (3, 5, 7, 9, 11)
    sigma: tuple[float, float] = (0.5, 3.0)

    def validate(self):
        check_choices(self, "kernels", self.kernels, range(3, 32, 2))
        check_range(self, "sigma", self.sigma, 0.1, 20.0)

    def sample(self, rng, state):
        return {"kernel": choice(rng, self.kernels), "sigma": uniform(rng, self.sigma)}

    def kernel(self, image, kernel, sigma):
        return F.gaussian_blur(image, kernel, sigma)


@dataclass(kw_only=True)
class BoxBlur(DegradeOp):
    name = "box_blur"
    kernel_size: tuple[int, int] = (3, 7)

    def validate(self):
        check_range(self, "kernel_size", self.kernel_size, 2, 31)

    def sample(self, rng, state):
        return {"kernel": integer(rng, self.kernel_size)}

    def kernel(self, image, kernel):
        return F.box_blur(image, kernel)


@dataclass(kw_only=True)
class DualKawaseBlur(DegradeOp):
    name = "dual_kawase_blur"
    levels: tuple[int, int] = (1, 2)

    def validate(self):
        check_range(self, "levels", self.levels, 1, 4)

    def sample(self, rng, state):
        return {"levels": integer(rng, self.levels)}

    def kernel(self, image, levels):
        return F.dual_kawase_blur(image, levels)


@dataclass(kw_only=True)
class BokehBlur(DegradeOp):
    name = "bokeh_blur"
    radius: tuple[int, int] = (1, 4)

    def validate(self):
        check_range(self, "radius", self.radius, 1, 15)

    def sample(self, rng, state):
        return {"radius": integer(rng, self.radius)}

    def kernel(self, image, radius):
        return F.bokeh_blur(image, radius)


@dataclass(kw_only=True)
class TiltShiftBlur(DegradeOp):
    name = "tilt_shift_blur"
    kernel_size: tuple[int, int] = (5, 15)
    focus: tuple[float, float] = (0.3, 0.7)
    band: tuple[float, float] = (0.1, 0.4)

    def validate(self):
        check_range(self, "kernel_size", self.kernel_size, 3, 31)
        check_odd(self, "kernel_size", self.kernel_size)
        check_range(self, "focus", self.focus, 0.0, 1.0)
        check_range(self, "band", self.band, 0.01, 1.0)

    def sample(self, rng, state):
        return {"kernel": odd(rng, self.kernel_size), "focus": uniform(rng, self.focus),
                "band": uniform(rng, self.band)}

    def kernel(self, image, kernel, focus, band):
        return F.tilt_shift_blur(image, kernel, focus, band)


@dataclass(kw_only=True)
class Jpeg(DegradeOp):
    name = "jpeg"
    quality: tuple[int, int] = (30, 95)

    def validate(self):
        check_range(self, "quality", self.quality, 1, 100)

    def sample(self, rng, state):
        return {"quality": integer(rng, self.quality)}

    def kernel(self, image, quality):
        return F.jpeg(image, quality)


@dataclass(kw_only=True)
class Webp(Jpeg):
    """WebP at a random quality: the same parameters as JPEG, another codec's artifacts."""

    name = "webp"

    def kernel(self, image, quality):
        return F.webp(image, quality)


@dataclass(kw_only=True)
class Resample(DegradeOp):
    name = "resample"
    scale: tuple[float, float] = (0.35, 0.8)
    down: tuple[str, ...] = ("area", "linear", "nearest")
    up: tuple[str, ...] = ("linear", "cubic")

    def validate(self):
        check_range(self, "scale", self.scale, 0.05, 1.0)
        check_choices(self, "down", self.down, list(F.INTERPOLATIONS))
        check_choices(self, "up", self.up, list(F.INTERPOLATIONS))

    def sample(self, rng, state):
        return {"scale": uniform(rng, self.scale), "down": choice(rng, self.down),
                "up": choice(rng, self.up)}

    def kernel(self, image, scale, down, up):
        return F.resample(image, scale, down, up)


@dataclass(kw_only=True)
class GaussianNoise(DegradeOp):
    name = "gaussian_noise"
    mean: tuple[float, float] = (-3.0, 3.0)
    std: tuple[float, float] = (2.0, 10.0)

    def validate(self):
        check_range(self, "mean", self.mean, -50.0, 50.0)
        check_range(self, "std", self.std, 0.0, 80.0)

    def sample(self, rng, state):
        return {"mean": uniform(rng, self.mean), "std": uniform(rng, self.std), "seed": seed(rng)}

    def kernel(self, image, mean, std, seed):
        return F.gaussian_noise(image, mean, std, seed)


@dataclass(kw_only=True)
class PoissonNoise(DegradeOp):
    name = "poisson_noise"
    peak: tuple[float, float] = (30.0, 255.0)

    def validate(self):
        check_range(self, "peak", self.peak, 1.0, 10000.0)

    def sample(self, rng, state):
        return {"peak": uniform(rng, self.peak), "seed": seed(rng)}

    def kernel(self, image, peak, seed):
        return F.poisson_noise(image, peak, seed)


@dataclass(kw_only=True)
class SaltAndPepper(DegradeOp):
    name = "salt_and_pepper"
    amount: tuple[float, float] = (0.001, 0.01)
    salt: tuple[float, float] = (0.3, 0.7)

    def validate(self):
        check_range(self, "amount", self.amount, 0.0, 0.5)
        check_range(self, "salt", self.salt, 0.0, 1.0)

    def sample(self, rng, state):
        return {"amount": uniform(rng, self.amount), "salt": uniform(rng, self.salt),
                "seed": seed(rng)}

    def kernel(self, image, amount, salt, seed):
        return F.salt_and_pepper(image, amount, salt, seed)
