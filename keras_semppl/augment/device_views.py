"""Device placement: the views augmented inside the compiled train step."""

import dataclasses

import keras

from keras_semppl.augment.byol_views import SUPPORTED_CHANNELS
from keras_semppl.augment.byol_views import ViewConfig
from keras_semppl.augment.layer_adapter import describe
from keras_semppl.augment.layer_adapter import spec_layers


def _serialize_spec(spec):
    if isinstance(spec, ViewConfig):
        return {"view_config": dataclasses.asdict(spec)}
    layers = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    return {"layers": [keras.saving.serialize_keras_object(layer) for layer in layers]}


def _deserialize_spec(config):
    if "view_config" in config:
        fields = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in config["view_config"].items()}
        return ViewConfig(**fields)
    return [keras.saving.deserialize_keras_object(layer) for layer in config["layers"]]


@keras.saving.register_keras_serializable(package="keras_semppl")
class DeviceViews(keras.layers.Layer):
    """Augments every view batch inside the train step, view by view.

    Pass it as `SemPPL(view_augmentation=DeviceViews(...))` and feed the
    model with `make_view_fn(views, placement="device")`, whose views are the
    source images. View i of the large (small) views goes through its own
    pipeline built from its spec, so BYOL's view-one / view-two asymmetry is
    kept; each image of a batch gets its own random draws from the layers'
    seed generators (a function of `seed`, and of the step through their
    state).

    Args:
        large, small: sequences of view specs (`ViewConfig`, or Keras
            layers, see `keras_semppl.augment.layer_adapter`), e.g. the
            fields of a `ViewSet`.
        channels: 1 or 3, channels of the images (for `ViewConfig` specs).
        seed: int seed; view i's layers get seeds derived from seed + i.

    Call: `layer({"large_views": (L tensors (B, H, W, C)), "small_views":
    (S tensors)}, training=True)` returns the same dict with the augmented
    views, (B, size_i, size_i, C). With `training=False` the input is
    returned unchanged.
    """

    #: SemPPL passes all views at once to a layer with this attribute.
    augments_all_views = True

    def __init__(self, large, small=(), channels=3, seed=None, **kwargs):
        super().__init__(**kwargs)
        if channels not in SUPPORTED_CHANNELS:
            raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
        self.large_specs = tuple(large)
        self.small_specs = tuple(small)
        if not self.large_specs:
            raise ValueError("`large` needs at least one view spec.")
        self.channels = channels
        self.seed = seed
        specs = self.large_specs + self.small_specs
        self.pipelines = [
            keras.layers.Pipeline(
                spec_layers(spec, "device", channels,
                            seed=None if seed is None else int(seed) + index),
                name=f"view_{index}")
            for index, spec in enumerate(specs)]

        # Preprocessing layers hold no weights beyond their seed generators
        # (created above); building them now spares `fit` a symbolic pass.
        for pipeline in self.pipelines:
            for layer in reversed(list(pipeline._flatten_layers(include_self=False))):
                if not layer.built:
                    try:
                        layer.build(None)
                    except Exception:  # a layer that needs its input shape
                        pass
            pipeline.built = all(layer.built for layer in pipeline.layers)
        self.built = True

    def build(self, input_shape=None):
        self.built = True

    def call(self, views, training=None):
        if not training:
            return views
        large, small = tuple(views["large_views"]), tuple(views.get("small_views", ()))
        if (len(large), len(small)) != (len(self.large_specs), len(self.small_specs)):
            raise ValueError(
                f"DeviceViews was built for {len(self.large_specs)} large and "
                f"{len(self.small_specs)} small views; got {len(large)} and {len(small)}.")
        out = []
        for pipeline, view in zip(self.pipelines, large + small):
            if view.shape[-1] != self.channels:
                raise ValueError(f"DeviceViews was built for {self.channels}-channel images; "
                                 f"got a view of shape {tuple(view.shape)}.")
            out.append(self._apply(pipeline, view))
        return dict(views, large_views=tuple(out[:len(large)]),
                    small_views=tuple(out[len(large):]))

    @staticmethod
    def _apply(pipeline, images):
        # Views share their source tensor; a layer that writes in place (Keras'
        # RandomBrightness on PyTorch) must not change the other views' input.
        images = keras.ops.copy(images)
        for layer in pipeline.layers:
            try:
                images = layer(images, training=True)
            except Exception as error:  # name the culprit, keep the cause
                raise RuntimeError(
                    f"{describe(layer)} failed in the 'device' placement on the "
                    f"{keras.backend.backend()} backend ({type(error).__name__}: {error}). "
                    "Use the 'host' placement for this layer.") from error
        return images

    def compute_output_spec(self, views, training=None):
        return views

    def get_config(self):
        config = super().get_config()
        config.update(large=[_serialize_spec(s) for s in self.large_specs],
                      small=[_serialize_spec(s) for s in self.small_specs],
                      channels=self.channels, seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["large"] = [_deserialize_spec(s) for s in config["large"]]
        config["small"] = [_deserialize_spec(s) for s in config["small"]]
        return cls(**config)
