"""One module per model family; importing it registers it. A new family is a module here plus its line
below."""

from transfer_study.models.families import (  # noqa: F401
    convnexttiny,
    efficientnetv2b0,
    mobilenetv3small,
    resnet50v2,
    squeezenet,
    vgg16,
)
