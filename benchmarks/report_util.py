"""Reading and formatting helpers of `benchmarks/report.py`."""

import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU_LOGS = "results/gpu_h100"
NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "torch"}


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return json.load(f)


def date_of(path, data):
    """The JSON's ``date``; else the file's last commit date."""
    if data.get("date"):
        return data["date"]
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", path],
                             cwd=ROOT, capture_output=True, text=True).stdout
    except OSError:
        out = ""
    return out.strip() or "unknown"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def provenance(command, machine, date, files, note=""):
    return ["", f"Reproduce: `{command}`{note}. Machine: {machine}. Measured {date} "
            f"({', '.join(f'`{f}`' for f in files)})."]


def met(ok):
    return "**met**" if ok else "**not met**"


def rate(value):
    return f"{value:,.0f}"


def ms(seconds):
    return f"{seconds * 1e3:.3g} ms"


def label(backend, jit, tf_data=False):
    return f"{NAMES[backend]} `jit_compile={jit}`" + (", `tf.data`" if tf_data else "")


def setting_label(setting):
    """``"tensorflow:False:tf.data"`` -> "TensorFlow `jit_compile=False`, `tf.data`"."""
    parts = setting.split(":")
    return label(parts[0], parts[1], bool(parts[2:]))


def compare_machine(data):
    refs = data["references"]
    versions = "; ".join(f"{b}: keras {r['keras']}" for b, r in data["results"].items())
    return f"{data['machine']}; torch {refs['torch']}, e2cnn {refs['e2cnn']}; {versions}"


def gpu_logs():
    """Rows of the main-job runs and of the layer tests on the GPU."""
    def read(name):
        with open(os.path.join(ROOT, GPU_LOGS, f"{name}.log")) as f:
            return f.read()

    runs = []
    for policy in ("float32", "mixed_bfloat16"):
        text = read(f"main_{policy}")
        step = re.findall(r"- (\d+)ms/step", text)[-1]
        seconds, accuracy = re.search(
            r"fine-tuned \(\d+ epochs, (\d+) s\)\s+([\d.]+)", text).groups()
        moved = max(abs(float(b) - float(a)) for a, b in
                    re.findall(r"([\d.]+) -> ([\d.]+)\s+[-\d.]+ -> ", text))
        runs.append((f"`{policy}`", f"{seconds} s", f"{step} ms", accuracy, f"{moved:.1f}"))
    tests = []
    for backend, name, precision in (
            ("JAX", "tests_jax_default_verbose", "default (TF32)"),
            ("JAX", "tests_jax_tf32_off", "TF32 off"),
            ("torch", "tests_torch", "default (TF32)"),
            ("torch", "tests_torch_tf32_off", "TF32 off")):
        text = read(name)
        outcomes = re.findall(r"\] (PASSED|FAILED) tests/", text)
        if not outcomes:  # quiet progress lines: "..F.F  [ 44%]"
            marks = "".join(re.findall(r"^([.FEsx]+)(?: +\[ *\d+%\])?$", text, re.M))
            outcomes = ["PASSED" if c == "." else "FAILED" for c in marks if c in ".F"]
        tests.append((backend, precision, outcomes.count("PASSED"),
                      outcomes.count("FAILED"), f"`{GPU_LOGS}/{name}.log`"))
    return runs, tests
