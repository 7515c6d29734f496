"""`RandomGaussianBlur`: BYOL's blur, separable, with one sigma per image."""

import keras

from keras_semppl.augment._base import DataLayer


@keras.saving.register_keras_serializable(package="keras_semppl")
class RandomGaussianBlur(DataLayer):
    """Blurs each image with probability `rate` and its own sigma.

    BYOL (Grill et al. 2020, Table 6 and its `_gaussian_blur`) draws one
    sigma per image, uniformly in `sigma_range`, and convolves with a
    separable Gaussian of side `kernel_size` with zero ("SAME") padding.
    Keras 3.15's `keras.layers.RandomGaussianBlur` convolves with the full
    2-D kernel (529 taps at 23 px instead of 2 x 23: the ImageNet host
    pipeline measured 8.5 images/s with it) and draws one (sigma_x, sigma_y)
    pair per call, i.e. per batch in the train step. This layer does BYOL's:
    two passes of `kernel_size` shifted, weighted sums, per-image weights.
    At inference (`training=False`) the input is returned.

    Args:
        rate: probability of blurring an image, in [0, 1].
        kernel_size: odd kernel side in pixels.
        sigma_range: (min, max) standard deviation in pixels, 0 < min <= max.
        seed: int seed.
    """

    def __init__(self, rate=1.0, kernel_size=3, sigma_range=(0.1, 2.0), seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"`rate` must be a probability in [0, 1]; got {rate!r}.")
        if (isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size <= 0
                or kernel_size % 2 == 0):
            raise ValueError(f"`kernel_size` must be a positive odd int; got {kernel_size!r}.")
        low, high = (float(v) for v in sigma_range)
        if not 0.0 < low <= high:
            raise ValueError(f"`sigma_range` must satisfy 0 < min <= max; got {sigma_range!r}.")
        self.rate = float(rate)
        self.kernel_size = kernel_size
        self.sigma_range = (low, high)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def _blur_axis(self, images, weights, axis):
        """Zero-padded weighted sum along `axis` (1: rows, 2: columns);
        weights (B, k)."""
        ops = self.backend
        radius = self.kernel_size // 2
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = ops.numpy.pad(images, pad)
        size = images.shape[axis]
        out = None
        for tap in range(self.kernel_size):
            window = padded[:, tap:tap + size] if axis == 1 else padded[:, :, tap:tap + size]
            term = window * ops.numpy.reshape(weights[:, tap], (-1, 1, 1, 1))
            out = term if out is None else out + term
        return out

    def call(self, images, training=True):
        if not training or self.rate == 0.0:
            return images
        ops = self.backend
        rank = len(images.shape)
        images = ops.cast(images, self.compute_dtype)
        if rank == 3:
            images = ops.numpy.expand_dims(images, 0)
        count = ops.shape(images)[0]
        seed = self._get_seed_generator(ops._backend)
        sigma = ops.random.uniform((count,), self.sigma_range[0], self.sigma_range[1], seed=seed)
        radius = self.kernel_size // 2
        offsets = ops.numpy.arange(-radius, radius + 1, dtype="float32")
        weights = ops.numpy.exp(-0.5 * ops.numpy.square(offsets[None, :] / sigma[:, None]))
        weights = ops.cast(weights / ops.numpy.sum(weights, axis=1, keepdims=True), images.dtype)
        coin = ops.random.uniform((count,), seed=seed) if self.rate < 1.0 else None
        if coin is not None and count == 1 and ops._backend == "tensorflow":
            # One image (the host placement): blur only when drawn.
            blurred = ops.core.cond(
                coin[0] < self.rate,
                lambda: self._blur_axis(self._blur_axis(images, weights, 1), weights, 2),
                lambda: images)
        else:
            blurred = self._blur_axis(self._blur_axis(images, weights, 1), weights, 2)
            if coin is not None:
                keep = ops.numpy.reshape(coin < self.rate, (-1, 1, 1, 1))
                blurred = ops.numpy.where(keep, blurred, images)
        return blurred[0] if rank == 3 else blurred

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, kernel_size=self.kernel_size,
                      sigma_range=self.sigma_range, seed=self.seed)
        return config
