"""Regenerate the model cards and the preset tables of README.md and
zoo/README.md from the presets' metadata files (tables between the
``presets:start/end`` markers)."""

import os
import re

from relaxed_keras.zoo import list_presets
from relaxed_keras.zoo import load_metadata
from relaxed_keras.zoo import preset_table
from relaxed_keras.zoo.cards import render_model_card
from relaxed_keras.zoo.presets import CARD_FILE
from relaxed_keras.zoo.presets import preset_path

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PATTERN = re.compile(r"(<!-- presets:start -->).*?(<!-- presets:end -->)", re.S)

for name in list_presets():
    with open(os.path.join(preset_path(name), CARD_FILE), "w") as f:
        f.write(render_model_card(load_metadata(name)))
print(f"re-rendered {len(list_presets())} model cards")

for relative in ("README.md", os.path.join("zoo", "README.md")):
    path = os.path.join(ROOT, relative)
    with open(path) as f:
        text = f.read()
    if not PATTERN.search(text):
        raise SystemExit(f"{relative}: no <!-- presets:start/end --> markers")
    text = PATTERN.sub(lambda m: m.group(1) + "\n" + preset_table() + "\n" + m.group(2), text)
    with open(path, "w") as f:
        f.write(text)
    print(f"updated {relative}")
