"""Checks that a Keras model can serve as a SemPPL encoder."""

import keras


def check_encoder(encoder):
    """Raise `ValueError` unless `encoder` maps inputs to features `(B, F)`.

    SemPPL's projector and queue need one pooled feature vector per image,
    so the encoder's single output must be rank 2 with a known feature size.

    Args:
        encoder: a built `keras.Model` (functional or subclassed with a
            known output).

    Returns:
        `encoder`, unchanged.
    """
    if not isinstance(encoder, keras.Model):
        raise ValueError(
            f"The encoder must be a keras.Model, got {type(encoder).__name__}."
        )
    try:
        outputs = encoder.outputs
    except AttributeError:
        outputs = None
    if not outputs:
        raise ValueError(
            f"Encoder '{encoder.name}' has no symbolic outputs; build it as a "
            "functional model (keras.Model(inputs, outputs)) so its output "
            "shape is known."
        )
    if len(outputs) != 1:
        raise ValueError(
            f"Encoder '{encoder.name}' must have exactly one output, got "
            f"{len(outputs)}."
        )
    shape = tuple(outputs[0].shape)
    if len(shape) != 2:
        raise ValueError(
            f"Encoder '{encoder.name}' must output pooled features of shape "
            f"(batch, features), but its output has shape {shape} "
            f"(rank {len(shape)}). Add global pooling: e.g. "
            "keras.applications.ResNet50(include_top=False, pooling='avg') "
            "or a keras.layers.GlobalAveragePooling2D() layer."
        )
    if shape[-1] is None:
        raise ValueError(
            f"Encoder '{encoder.name}' has an unknown feature size: output "
            f"shape {shape}. The last dimension must be static."
        )
    return encoder


def encoder_output_dim(encoder):
    """Feature size `F` of an encoder with output `(B, F)` (an int)."""
    check_encoder(encoder)
    return int(encoder.outputs[0].shape[-1])
