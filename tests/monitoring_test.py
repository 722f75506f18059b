#!/usr/bin/env python3
"""Seeing a run and using a saved model, through the moerec binary.

  tensorboard_events  the event files in RUN_DIR/tb/ decoded by tests/tensorboard_reader.py (an
                      independent reader: TFRecord framing, masked CRC-32C, protobuf wire format
                      by hand): read while a job runs and after it is killed; a finished
                      distributed job's chief writes the one file, holding the metrics.jsonl
                      figures under their tags (scalars and the expert-load histogram).
  progress            `moerec gen` and `moerec convert` show rows, rows/s and ETA: log lines, or
                      a live line on a terminal.
  report_chromium     `moerec report` of two runs: a self-contained page (no URL anywhere) that
                      headless Chromium, with every host name unresolvable, renders with every
                      plot drawn; the screenshot is kept in BUILD_DIR/tests/. Skips (77) when
                      chromium is not installed.
  saved_model         a checkpoint of a 2-worker, 2-server job evaluated by one process (`moerec
                      eval`) gives the job's final test metrics; `moerec predict` writes one line
                      per test sample; checkpoints of another model or schema are refused, naming
                      what differs.

Usage: monitoring_test.py BUILD_DIR CASE
"""
import glob
import html.parser
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_job import ENV, kill_job, main, metrics, moerec, run, train_command  # noqa: E402
import tensorboard_reader  # noqa: E402

BUILD = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = """
name: "monitoring-test"
data {{
  num_domains: 3 num_tasks: 2
  domain_names: "{first_domain}" domain_names: "search" domain_names: "tail"
  task_names: "click" task_names: "like"
  slots {{ name: "a" }} slots {{ name: "b" }} slots {{ name: "c_multi" pooling: POOLING_MEAN }}
  num_dense: 2
  train: "{data}/train" validation: "{data}/validation" test: "{data}/test"
  synthetic {{ num_samples: 30000 vocab_size: 300 samples_per_shard: 8000 seed: 5 }}
  reader {{ batch_size: 256 }}
}}
embedding {{ dim: 8 optimizer {{ type: ADAGRAD learning_rate: 0.05 }} }}
model {{
  domain_embedding_dim: 4
  mmoe {{ num_experts: {experts} expert {{ dims: 32 dims: 16 }} tower {{ dims: 8 }}
          gate_index: BY_TASK tower_index: BY_DOMAIN_TASK }}
}}
optimizer {{ type: ADAM learning_rate: 0.003 }}
train {{ epochs: {epochs} eval_every_steps: 40 log_every_steps: 10 seed: 9 threads: 1
         restore_best: false }}
checkpoint {{ every_steps: 40 }}
"""


def write_config(tmp, name, experts=3, epochs=1, first_domain="home"):
    path = os.path.join(tmp, name + ".pbtxt")
    with open(path, "w") as f:
        f.write(CONFIG.format(data=os.path.join(tmp, "data"), experts=experts, epochs=epochs,
                              first_domain=first_domain))
    return path


def event_file(run_dir):
    files = glob.glob(os.path.join(run_dir, "tb", "events.out.tfevents.*"))
    assert len(files) == 1, f"want one event file in {run_dir}/tb, found {files}"
    return files[0]


def merged(events):
    """{tag: {step: value}} over the scalar events."""
    out = {}
    for e in events:
        for tag, v in e["scalars"].items():
            out.setdefault(tag, {})[e["step"]] = v
    return out


def close(a, b, rel=1e-6):
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def tensorboard_events(tmp):
    # Live: a long job, flushing every 0.5 s, is read while it runs, then killed.
    config = write_config(tmp, "long", epochs=40)
    run(train_command(BUILD, config, os.path.join(tmp, "gen"), 1, 0) + ["--max_steps=1"])
    live_dir = os.path.join(tmp, "live")
    proc = subprocess.Popen(train_command(BUILD, config, live_dir) + ["--tb_flush_secs=0.5"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    seen_running = None
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            files = glob.glob(os.path.join(live_dir, "tb", "events.out.tfevents.*"))
            if files:
                events = tensorboard_reader.read_events(files[0], allow_partial_tail=True)
                losses = [e for e in events if "train/loss" in e["scalars"]]
                if len(losses) >= 2:
                    seen_running = len(events)
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the long job ended before its events were seen"
        assert seen_running, "no train/loss events appeared in tb/ while the job ran"
    finally:
        kill_job(proc)
    events = tensorboard_reader.read_events(event_file(live_dir))  # whole records only
    assert len(events) >= seen_running
    assert events[0]["file_version"] == "brain.Event:2", events[0]
    steps = [e["step"] for e in events if "train/loss" in e["scalars"]]
    assert steps == sorted(steps) and steps[0] == 10, steps
    print(f"live: {seen_running} events read while running; {len(events)} after the kill")

    # A finished distributed job: the chief's one file holds the metrics lines' figures.
    run_dir = os.path.join(tmp, "dist")
    run(train_command(BUILD, write_config(tmp, "dist"), run_dir, workers=2, servers=1))
    lines, losses, final = metrics(run_dir)
    events = tensorboard_reader.read_events(event_file(run_dir))
    assert events[0]["file_version"] == "brain.Event:2"
    assert all(e["wall_time"] > 1.6e9 for e in events)
    tags = merged(events)
    for step, loss in losses.items():
        assert close(tags["train/loss"][step], loss), (step, tags["train/loss"][step], loss)
    train = [l for l in lines if l["event"] == "train"]
    for key, tag in [("samples_per_sec", "train/samples_per_sec"), ("ms_pull", "time/ms_pull"),
                     ("ms_compute", "time/ms_compute"), ("ms_step", "time/ms_step"),
                     ("ps_bytes_per_step", "wire/ps_bytes_per_step"),
                     ("allreduce_bytes_per_step", "wire/allreduce_bytes_per_step"),
                     ("expert_load_cv", "experts/load_cv"),
                     ("expert_load_max_mean", "experts/load_max_mean"),
                     ("expert_load.2", "experts/load/2"),
                     ("ps_rows", "ps/rows"), ("ps_resident_rows", "ps/resident_rows"),
                     ("ps_hit_rate", "ps/hit_rate")]:
        for l in train:
            assert close(tags[tag][l["step"]], l[key]), (tag, l["step"])
    # The servers' tables grow to what the job touched, and the rows stay in memory.
    assert all(l["ps_rows"] > 0 and l["ps_resident_rows"] == l["ps_rows"] for l in train)
    assert all(0 < l["ps_hit_rate"] <= 1 for l in train)
    evals = [l for l in lines if l["event"] == "eval"]
    assert evals
    for l in evals:
        for key in ("val_auc/home/click", "val_gauc/search/like", "val_logloss/tail/click",
                    "val_mean_auc", "val_weighted_auc"):
            assert close(tags["val/" + key[4:]][l["step"]], l[key]), key
    for key in ("test_auc/home/click", "test_oracle_auc/search/click", "test_mean_auc",
                "test_mean_auc/like"):
        assert close(tags["test/" + key[5:]][final["step"]], final[key]), key
    assert not any(t.startswith("val/count") for t in tags), "sample counts are no series"
    histos = [e for e in events if "experts/load" in e["histograms"]]
    assert len(histos) == len(train), (len(histos), len(train))
    h = histos[-1]["histograms"]["experts/load"]
    assert h["num"] == 3 and sum(h["bucket"]) == 3, h
    assert close(h["sum"], 1.0, 1e-5), h  # the experts' shares
    assert len(h["bucket_limit"]) == len(h["bucket"])
    print(f"distributed: {len(events)} events, {len(tags)} tags")


class PlotCounter(html.parser.HTMLParser):
    """The marks (series paths, bars, heatmap cells) inside every <svg data-plot=...>."""

    def __init__(self):
        super().__init__()
        self.plots, self.current = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "data-plot" in a:
            self.current = a["data-plot"]
            self.plots[self.current] = 0
        elif self.current and a.get("class") in ("series", "bar", "cell"):
            self.plots[self.current] += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self.current = None


def png_pixels(path):
    """(width, height, raw scanlines) of an 8-bit RGB(A) PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def report_chromium(tmp):
    data_config = write_config(tmp, "a", experts=3)
    run_a, run_b = os.path.join(tmp, "run_a"), os.path.join(tmp, "run_b")
    run(train_command(BUILD, data_config, run_a))
    run(train_command(BUILD, write_config(tmp, "b", experts=4), run_b))
    out = run([moerec(BUILD), "report", run_a])
    assert os.path.exists(os.path.join(run_a, "report.html")), out
    page = os.path.join(tmp, "report.html")
    out = run([moerec(BUILD), "report", run_a, run_b, f"--out={page}"])
    assert f"report: {page}" in out, out
    text = open(page).read()
    for forbidden in ("http://", "https://", "src=", "href=", "<script", "@import", "url("):
        assert forbidden not in text, f"the page is not self-contained: it holds {forbidden}"
    bad = subprocess.run([moerec(BUILD), "report", os.path.join(tmp, "nothing")], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bad.returncode != 0 and "metrics.jsonl" in bad.stdout, bad.stdout

    chromium = shutil.which("chromium")
    if chromium is None:
        print("SKIPPED: chromium is not installed (Debian package chromium; ./setup.sh installs "
              "it): the page was written and checked, but not rendered")
        sys.exit(77)
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions",
              "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND",
              f"--user-data-dir={tmp}/chromium-profile"]
    url = "file://" + page
    dom = subprocess.run(common + ["--dump-dom", url], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, timeout=120, env=ENV)
    assert dom.returncode == 0, dom.returncode
    counter = PlotCounter()
    counter.feed(dom.stdout)
    want = ["loss", "val_auc", "test_auc", "expert_load_0", "expert_load_1", "expert_cv",
            "expert_max_mean", "throughput", "time_split", "wire", "ps_hit_rate", "ps_rows"]
    for plot in want:
        assert counter.plots.get(plot, 0) > 0, f"plot {plot} is missing or empty: {counter.plots}"
    assert counter.plots["loss"] == 2 and counter.plots["val_auc"] == 2, counter.plots
    # 6 (domain, task) cells with test labels x 2 runs, plus the oracle bars.
    assert counter.plots["test_auc"] >= 10, counter.plots
    shot = os.path.join(BUILD, "tests", "report_screenshot.png")
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    if os.path.exists(shot):
        os.remove(shot)
    subprocess.run(common + [f"--screenshot={shot}", "--window-size=1400,3600",
                             "--hide-scrollbars", url], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120, env=ENV, check=True)
    width, height, raw = png_pixels(shot)
    assert (width, height) == (1400, 3600), (width, height)
    # Drawn, not blank: a good share of the bytes are not the near-white background.
    dark = sum(1 for b in raw[::7] if b < 200)
    assert dark > len(raw[::7]) * 0.01, f"the screenshot looks blank ({dark} dark samples)"
    print(f"rendered {len(counter.plots)} plots: {counter.plots}")
    print(f"screenshot: {shot}")


def saved_model(tmp):
    config = write_config(tmp, "job", epochs=2)
    run_dir = os.path.join(tmp, "dist")
    run(train_command(BUILD, config, run_dir, workers=2, servers=2) + ["--max_steps=80"])
    _, _, final = metrics(run_dir)
    assert final["step"] == 80, final
    assert os.path.exists(os.path.join(run_dir, "config.pbtxt"))
    ckpt = os.path.join(run_dir, "checkpoints", "step-0000000080")
    assert len(glob.glob(os.path.join(ckpt, "ps", "shard-*"))) == 2, "want a 2-server checkpoint"

    # eval: the run folder's own config, one process, every server's shard.
    out = run([moerec(BUILD), "eval", f"--checkpoint={ckpt}", "--split=test"])
    figures = dict(l.split("=", 1) for l in out.splitlines() if l.startswith(("mean_auc=",
                                                                              "weighted_auc=")))
    assert abs(float(figures["mean_auc"]) - final["mean_test_auc"]) < 1e-4, (figures, final)
    assert abs(float(figures["weighted_auc"]) - final["weighted_test_auc"]) < 1e-4
    assert "home      click" in out, out
    # With --config given explicitly, on the validation split.
    run([moerec(BUILD), "eval", f"--checkpoint={ckpt}", "--split=validation",
         f"--config={config}"])

    # predict: one line per test sample, in file order, with its domain.
    pred = os.path.join(tmp, "pred.tsv")
    out = run([moerec(BUILD), "predict", f"--checkpoint={ckpt}",
               f"--data={os.path.join(tmp, 'data', 'test')}", f"--out={pred}"])
    rows = [l.rstrip("\n").split("\t") for l in open(pred) if not l.startswith("#")]
    assert rows[0] == ["sample", "domain", "click", "like"], rows[0]
    rows = rows[1:]
    assert f"predictions={len(rows)}" in out, out
    assert [int(r[0]) for r in rows] == list(range(len(rows))), "sample indices out of order"
    for d in ("home", "search", "tail"):
        n = sum(1 for r in rows if r[1] == d)
        assert n == final[f"test_count/{d}/click"], (d, n, final[f"test_count/{d}/click"])
    for r in rows:
        assert all(0.0 < float(p) < 1.0 for p in r[2:]), r

    # Refused: another model; another schema; no checkpoint at all.
    def refused(extra, want):
        p = subprocess.run([moerec(BUILD), "eval", f"--checkpoint={ckpt}"] + extra, env=ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert p.returncode == 78 and want in p.stdout, (p.returncode, p.stdout[-2000:])
        print("refused:", p.stdout.strip().splitlines()[-1][:300])

    refused([f"--config={write_config(tmp, 'more_experts', experts=4)}"], "first difference: \"num_experts: 3\" in the checkpoint, \"num_experts: 4\" in the config")
    refused([f"--config={write_config(tmp, 'renamed', first_domain='web')}"], "other data")
    p = subprocess.run([moerec(BUILD), "eval", f"--checkpoint={run_dir}"], env=ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.returncode != 0 and "not a checkpoint folder" in p.stdout, p.stdout


def progress(tmp):
    """gen and convert report rows, rows/s and ETA: log lines off a terminal, a live line
    (carriage return, erase line) when MOEREC_PROGRESS=1 stands in for a terminal."""
    import re
    config = write_config(tmp, "gen")

    def command(cmd, live):
        env = dict(ENV, MOEREC_PROGRESS="1" if live else "0")
        # Bytes: text mode would turn the live line's carriage returns into newlines.
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=300)
        p.stdout, p.stderr = p.stdout.decode(), p.stderr.decode()
        assert p.returncode == 0, p.stdout + p.stderr
        return p

    logged = command([moerec(BUILD), "gen", f"--config={config}"], live=False)
    assert re.search(r"progress\.cc:\d+\] rows 30000/30000 \| \d+ rows/s \| ETA 0s",
                     logged.stderr), logged.stderr[-2000:]
    live = command([moerec(BUILD), "gen", f"--config={config}", "--force"], live=True)
    assert re.search(r"\r\x1b\[Krows 30000/30000 \| \d+ rows/s \| ETA 0s\n", live.stdout), live.stdout

    # Matching data (interactions, then the item corpus) the same way.
    with open(os.path.join(ROOT, "configs", "models", "two_tower.pbtxt")) as f:
        matching = f.read().replace("../../datasets/matching/", os.path.join(tmp, "matching") + "/")
    assert matching.count(os.path.join(tmp, "matching")) == 4
    matching_config = os.path.join(tmp, "matching.pbtxt")
    with open(matching_config, "w") as f:
        f.write(matching)
    logged = command([moerec(BUILD), "gen", f"--config={matching_config}"], live=False)
    assert re.search(r"progress\.cc:\d+\] rows 170000/170000 \| \d+ rows/s \| ETA 0s",
                     logged.stderr), logged.stderr[-2000:]

    with open(os.path.join(tmp, "clicks.csv"), "w") as f:
        f.write("scenario,uid,item,clicked\n")
        for i in range(20000):
            f.write(f"{'home' if i % 3 else 'search'},{i % 97},{i % 1013},{i % 2}\n")
    convert = os.path.join(tmp, "convert.pbtxt")
    with open(convert, "w") as f:
        f.write("""csv { files: "clicks.csv" delimiter: "," header: true domain_column: "scenario"
  domain_groups { name: "home" values: "home" } domain_groups { name: "search" values: "search" }
  tasks { name: "click" column: "clicked" } user_column: "uid"
  slots { name: "item_id" column: "item" } }
output_dir: "out" overwrite: true
""")
    logged = command([moerec(BUILD), "convert", f"--config={convert}"], live=False)
    assert re.search(r"progress\.cc:\d+\] rows 20000 \(100% of the input\) \| \d+ rows/s \| ETA 0s",
                     logged.stderr), logged.stderr
    live = command([moerec(BUILD), "convert", f"--config={convert}"], live=True)
    assert re.search(r"\r\x1b\[Krows 20000 \(100% of the input\) \| \d+ rows/s \| ETA 0s",
                     live.stdout), live.stdout
    print("gen and convert progress lines seen")


if __name__ == "__main__":
    main({"tensorboard_events": tensorboard_events, "report_chromium": report_chromium,
          "saved_model": saved_model, "progress": progress}, "moerec-monitoring-")
