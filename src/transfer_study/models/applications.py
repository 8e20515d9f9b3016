"""What the keras.applications families share: the base, a pass-through preprocessing layer, the
weights writer."""

from __future__ import annotations


def application_base(constructor: str, name: str, input_shape, weights_path, **options):
    """keras.applications.<constructor> without its top, from `weights_path` or random, as a model
    named `name`.

    The application's own name cannot simply be replaced: EfficientNetV2 looks its block settings up by
    it and ConvNeXt prefixes its layer names with it. So the application keeps its name and layer names
    (those of the published files) and a functional model of the same layers carries the family's name.
    A local file ending in '.h5' goes through Keras's legacy loader, as Keras's own download does.
    """
    import keras

    application = getattr(keras.applications, constructor)(
        include_top=False,
        weights=str(weights_path) if weights_path else None,
        input_shape=tuple(input_shape),
        **options,
    )
    return keras.Model(application.input, application.output, name=name)


def identity_preprocessing(name: str):
    """For applications that take raw 0..255 pixels and normalise inside the base."""
    from keras import layers

    return layers.Identity(name=name)


def save_notop_h5(base, path) -> None:
    """The layout of Keras's published no-top files, which `keras.applications.X(weights=path)` reads."""
    from transfer_study.models.weights import save_keras2_notop_h5

    save_keras2_notop_h5(base, path)
