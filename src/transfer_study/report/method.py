"""The report's sentences about the method, computed from the experiments that ran.

Nothing here names a study: the title, the data sentence, the model and head, what changes between
experiments and the augmentation all follow the config, so a study with other models, data or
experiments is described as it ran.
"""

from __future__ import annotations

# Settings whose differences between experiments the method sentence names, in this order.
VARYING = ("model", "weights", "trainable", "activation", "augmentation")


def model_title(name: str) -> str:
    """The model family's display name from the registry (the name itself for an unregistered one)."""
    from transfer_study.models import registry

    return registry.FAMILIES[name].display_name if name in registry.FAMILIES else name


def _in_order(values) -> list:
    return list(dict.fromkeys(values))


def _join(items: list[str], t: dict) -> str:
    items = [str(item) for item in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {t['word_and']} {items[-1]}"


def part_title(number: int, settings: list[dict], formats: dict[str, str], t: dict) -> str:
    """`Part 1: VGG16 on the beans leaf images`, from the models and data sets the experiments use."""
    models = _join([model_title(s["model"]) for s in _unique(settings, "model")], t)
    datasets = _join(
        [
            dataset_words(s["dataset"], formats, t, "on").format(name=s["dataset"])
            for s in _unique(settings, "dataset")
        ],
        t,
    )
    return t["part_title"].format(number=number, models=models, datasets=datasets)


def _unique(settings: list[dict], key: str) -> list[dict]:
    return list({str(s.get(key)): s for s in settings}.values())


def dataset_words(name: str, formats: dict[str, str], t: dict, kind: str) -> str:
    """The words of a data set's format (`dataset_on_beans_zip`...), or the generic ones, which name the
    data set through a `{name}` field; the caller fills the fields."""
    key = f"dataset_{kind}_{formats.get(name)}"
    return t[key] if key in t else t[f"dataset_{kind}_other"]


def data_sentence(stats: dict, formats: dict[str, str], t: dict) -> str:
    splits = ", ".join(f"{name} {split['total']}" for name, split in stats["splits"].items())
    facts = {
        "name": stats["dataset"],
        "count": len(stats["class_names"]),
        "classes": ", ".join(stats["class_names"]),
        "splits": splits,
        "size": stats["image_shape"][0],
    }
    sentence = dataset_words(stats["dataset"], formats, t, "data").format(**facts)
    return " ".join([sentence, *split_sentences(stats, t)])


def split_sentences(stats: dict, t: dict) -> list[str]:
    """How splits the data did not come with were drawn, as stats.json records it: validation images
    held out of the training images, or all three splits drawn from one pool."""
    if "validation_split" in stats:
        record = stats["validation_split"]
        fraction = 100 * record["validation_fraction"]
        return [t["data_carved"].format(percent=f"{fraction:g}", seed=record["split_seed"])]
    if "pool_split" in stats:
        record = stats["pool_split"]
        validation, test = (f"{100 * record[key]:g}" for key in ("validation_fraction", "test_fraction"))
        return [t["data_pooled"].format(validation=validation, test=test, seed=record["split_seed"])]
    return []


def _activation(settings: dict):
    return (settings.get("head") or {}).get("activation")


def _augmentation(settings: dict) -> tuple:
    return tuple(sorted((key, value) for key, value in (settings.get("augmentation") or {}).items() if value))


def model_sentence(settings: list[dict], t: dict) -> str:
    models = _in_order(model_title(s["model"]) for s in settings)
    key = "method_model" if len(models) == 1 else "method_models"
    sentences = [t[key].format(models=_join(models, t))]
    for name in _in_order(s["model"] for s in settings):
        if f"method_input_{name}" in t:
            sentences.append(t[f"method_input_{name}"])
    return " ".join(sentences)


def changes_sentence(settings: list[dict], t: dict) -> str | None:
    values = {
        "model": lambda s: s["model"],
        "weights": lambda s: bool(s.get("weights")),
        "trainable": lambda s: str(s.get("trainable")),
        "activation": _activation,
        "augmentation": _augmentation,
    }
    varying = [key for key in VARYING if len({str(values[key](s)) for s in settings}) > 1]
    if not varying:
        return None
    return t["method_changes"].format(changes=_join([t[f"change_{key}"] for key in varying], t))


def augmentation_sentence(settings: list[dict], labels: list[str], t: dict) -> str:
    augmented = [
        (label, _augmentation(s)) for s, label in zip(settings, labels, strict=True) if _augmentation(s)
    ]
    if not augmented:
        return t["method_no_augmentation"]
    kinds = []
    for key, value in _in_order(item for _, pairs in augmented for item in pairs):
        word = f"aug_{key}"
        kinds.append(t[word].format(value=value) if word in t else f"{key} ({value})")
    which = (
        t["aug_every"]
        if len(augmented) == len(settings)
        else t["aug_some"].format(labels=_join([label for label, _ in augmented], t))
    )
    return t["method_augmentation"].format(kinds=_join(_in_order(kinds), t), which=which)


def method_text(entries: list[dict], datasets: list[dict], formats: dict[str, str], t: dict) -> str:
    """The part's 'Data and method' paragraph."""
    settings = [entry["settings"] for entry in entries]
    sentences = [data_sentence(stats, formats, t) for stats in datasets]
    sentences.append(model_sentence(settings, t))
    sentences.append(changes_sentence(settings, t))
    sentences.append(augmentation_sentence(settings, [entry["label"] for entry in entries], t))
    if any(entry["frozen_cache"] for entry in entries):
        sentences.append(t["method_cache"])
    return " ".join(sentence for sentence in sentences if sentence)
