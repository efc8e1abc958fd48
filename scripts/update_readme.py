"""Regenerate the preset tables of README.md and zoo/README.md from the
presets' metadata files (between the ``presets:start/end`` markers)."""

import os
import re

from relaxed_keras.zoo import preset_table

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PATTERN = re.compile(r"(<!-- presets:start -->\n).*?(\n<!-- presets:end -->)", re.S)

for relative in ("README.md", os.path.join("zoo", "README.md")):
    path = os.path.join(ROOT, relative)
    with open(path) as f:
        text = f.read()
    if not PATTERN.search(text):
        raise SystemExit(f"{relative}: no <!-- presets:start/end --> markers")
    text = PATTERN.sub(lambda m: m.group(1) + preset_table() + m.group(2), text)
    with open(path, "w") as f:
        f.write(text)
    print(f"updated {relative}")
