"""The Train tab: run ``python -m htr train`` in the background (via :mod:`htr.train.jobs`), watch its
curves and log live, stop and resume it, and use or install the model it made."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard_pages.common import (
    DEFAULT_MODEL,
    FORMAT_LINE,
    REFRESH_SECONDS,
    ROOT,
    data_set_folder,
    data_sets_note,
    diff_html,
)
from htr.datasets import DATASETS
from htr.errors import HTRError
from htr.paths import iam_dir
from htr.train.jobs import (
    FAILED,
    FINISHED,
    STOPPED,
    STOPPING,
    JobManager,
)
from htr.train.settings import FormField, form_rows, form_value, settings_from_dict


def jobs() -> JobManager:
    return JobManager(os.environ.get("HTR_JOBS_DIR", str(ROOT / "runs")))


def train_tab(key) -> None:
    manager = jobs()
    active = manager.active()
    current = manager.current()
    # A reloaded page starts from the settings of the last training job launched.
    last = manager.status(current).request if current else {}
    if last.get("adapt"):  # the last job adapted a model (below): no training settings to start from
        current, last = None, {}
    default_out = str(current) if current else "runs/dashboard"
    st.caption("Runs `python -m htr train` in the background; its state is read from the run folder, so "
               "closing or reloading this page does not stop it. One training job at a time.")
    # The settings' widgets follow htr.train.settings (FORM_ROWS, each field's type and metadata).
    # A first visit starts from a folder of the user's own lines; the IAM data sets are offered beside it.
    initial = {"dataset": "folder", "data": "", **last}
    values = {}
    for row in form_rows():
        for column, widget in zip(st.columns([w.width for w in row]), row, strict=True):
            value = initial.get(widget.name)
            values[widget.name] = setting_widget(column, widget, widget.default if value is None else value)
        if "data" in row:
            st.caption(data_sets_note())
    values["data"] = data_set_folder(values["dataset"], values["data"])
    dataset, data = values["dataset"], values["data"]
    second = st.checkbox("Train on a second data set too (e.g. real scans beside pen data)",
                         value=len(last.get("sources") or []) > 1, key="train_two")
    sources: list[str] = []
    if second:
        d1, d2, d3 = st.columns([1, 2, 1])
        dataset2 = d1.selectbox("Second data set", DATASETS, index=_index(DATASETS, "iam", 1), key="train_dataset2")
        data2 = d2.text_input("Its path", str(iam_dir()), key="train_path2")
        share2 = d3.number_input("Its share of each epoch", 0.05, 0.95, 0.5, 0.05, key="train_share2")
        s1, s2, s3 = st.columns(3)
        train2 = s1.text_input("Its training split (name or file)", "train", key="train_split2")
        val2 = s2.text_input("Its validation split (name or file)", "validation", key="train_val2")
        epoch_lines = int(s3.number_input("Lines per epoch (0 = all)", 0, 1_000_000, 0, key="train_epoch_lines"))
        name1, name2 = (dataset, dataset2) if dataset != dataset2 else (f"{dataset}-1", f"{dataset2}-2")
        sources = [f"dataset={dataset},data={data},name={name1},share={1 - share2:g}",
                   f"dataset={dataset2},data={data2},train={train2},val={val2},name={name2},share={share2:g}"]
        st.caption("Each data set is validated on its own every epoch; the best model has the lowest mean "
                   "of their CERs.")
    out = st.text_input("Output model folder (the run folder)", default_out, key="train_out")
    run_dir = Path(out).expanduser().resolve() if out.strip() else None
    status = manager.status(run_dir) if run_dir else None

    b1, b2, _ = st.columns([1, 1, 3])
    start = b1.button("Start training", key="train_start", disabled=active is not None, type="primary")
    resume = b2.button("Resume", key="train_resume",
                       disabled=active is not None or status is None or not status.resumable,
                       help="continue the run in the output folder from its last completed epoch")
    if active is not None:
        st.info(f"A job is running in `{active.run_dir}`; stop it to launch another.")
    if start or resume:
        try:
            if run_dir is None:
                raise HTRError("choose an output model folder")
            if not data and not second and not (resume and status and status.request):
                raise _NoData(f"Enter the folder of your lines under *Data path*: {FORMAT_LINE}.")
            if resume and status and status.request:  # a resume keeps the run's settings, for more epochs
                values = {**{k: v for k, v in status.request.items() if v is not None}, "epochs": values["epochs"]}
            else:
                values.update(sources=sources, epoch_lines=(epoch_lines or None) if second else None)
            values = {name: value for name, value in values.items() if name != "resume"}
            settings = settings_from_dict({**values, "model_dir": str(run_dir)})
            launched = manager.launch(settings, resume=bool(resume))
        except _NoData as exc:
            st.info(str(exc))
        except HTRError as exc:
            st.error(str(exc))
        else:
            st.session_state["train_notice"] = (f"{'Resumed' if resume else 'Started'} training in "
                                                f"`{launched.run_dir}` (pid {launched.pid}).")
            st.rerun()  # drawn again at once with the job running: launching disabled
    notice = st.session_state.pop("train_notice", None)
    if notice:
        st.success(notice)

    shown = active.run_dir if active is not None else run_dir
    if shown is not None:
        job_panel(manager, shown, live=active is not None)

    adapt_panel(manager, active)

    history_path = Path(key[0]) / "history.csv"
    if history_path.is_file() and (shown is None or Path(key[0]) != shown):
        with st.expander(f"Training curves of the loaded model ({key[0]})"):
            show_curves(_history(Path(key[0])), "model")


def adapt_panel(manager: JobManager, active) -> None:
    """Adapt a model to one writer's lines as a background job (``python -m htr adapt``)."""
    with st.expander("Adapt a model to one writer", expanded=False):
        st.caption("Fine-tunes the model's recurrent layers on a writer's lines (images, photos, ink files or "
                   "the app's stroke JSON, listed in a labels.tsv as path<TAB>text rows), holding a share out to "
                   "check the result: see docs/adapt.md. One job at a time, beside training.")
        c1, c2 = st.columns(2)
        labels = c1.text_input("The writer's lines (labels.tsv)", "", key="adapt_labels")
        base = c2.text_input("Model to adapt", str(DEFAULT_MODEL), key="adapt_base")
        c3, c4 = st.columns([3, 1])
        out = c3.text_input("Adapted model folder (a new one)", "runs/adapted", key="adapt_out")
        minutes = c4.number_input("Minutes", 0.5, 60.0, 1.5, 0.5, key="adapt_minutes")
        if st.button("Adapt", key="adapt_start", disabled=active is not None):
            try:
                launched = manager.launch_adapt(labels, base, out, float(minutes))
            except HTRError as exc:
                st.error(str(exc))
            else:
                st.success(f"Adapting in the background (pid {launched.pid}).")
                st.rerun()
        if out.strip():
            adapt_status(manager, Path(out).expanduser().resolve())


def adapt_status(manager: JobManager, out: Path) -> None:
    """The adaptation job for ``out``: running (its log), failed, or its held-out figures."""
    import json

    from htr.train.jobs import adapt_job_dir

    job_dir = adapt_job_dir(out)
    status = manager.status(job_dir) if job_dir.is_dir() else None

    @st.fragment(run_every=REFRESH_SECONDS if status is not None and status.running else None)
    def panel():
        current = manager.status(job_dir) if job_dir.is_dir() else None
        if current is not None and current.running:
            st.info("adapting ...")
        elif current is not None and current.state in (FAILED, STOPPED):
            st.error(f"{current.state}: {current.message}")
        meta_path = out / "metadata.json"
        if meta_path.is_file():
            adapted = json.loads(meta_path.read_text()).get("adapted", {})
            if adapted:
                m1, m2, m3 = st.columns(3)
                folds = adapted.get("folds", 0)
                checked = "Cross-validated" if folds else "Held-out"
                m1.metric(f"{checked} CER before", f"{adapted['heldout_cer_before']:.2%}")
                m2.metric(f"{checked} CER after", f"{adapted['heldout_cer_after']:.2%}")
                if folds:
                    m3.metric("Lines (each read once, by a model adapted on the others)", len(adapted["heldout_lines"]))
                else:
                    m3.metric("Lines (trained on / held out)",
                              f"{len(adapted['train_lines'])} / {len(adapted['heldout_lines'])}")
                if adapted.get("kept_base"):
                    st.warning(f"Adapting did not read the {checked.lower()} lines clearly better: the folder keeps "
                               "the base model's weights.")
                st.caption(f"Load it on the Inspect and Validate tabs with the model folder `{out}`.")
                if current is None or not current.running:
                    changed_lines(out, meta_path.stat().st_mtime_ns)
        if current is not None and current.log_tail:
            st.code(current.log_tail, language=None)
        if current is not None and status is not None and status.running and not current.running:
            st.rerun()

    panel()


DECODER_NOTES = {"best": "the best path (letters alone), as the checked figures count it",
                 "lm": "the language model's beam search, as the app reads"}


def changed_lines(out: Path, stamp: int) -> None:
    """The writer's checked lines that the adapted model reads otherwise than the base model:
    both readings (differences marked against the line's text) and both heatmaps, side by side."""
    if not st.toggle("Show the checked lines whose reading changed", key="adapt_compare",
                     help="reads the writer's checked lines with the base and the adapted model"):
        return
    decoder = st.radio("Read with", list(DECODER_NOTES), format_func=DECODER_NOTES.get, horizontal=True,
                       key="adapt_compare_decoder")
    try:
        comparison = _changed_readings(str(out), stamp, decoder)
    except HTRError as exc:
        st.info(str(exc))
        return
    for problem in comparison.missing:
        st.warning(problem)
    better = sum(line.better for line in comparison.changed)
    worse = sum(line.adapted_cer > line.base_cer for line in comparison.changed)
    st.markdown(f"**{len(comparison.changed)} of {len(comparison.checked)} checked lines read differently**: "
                f"{better} with fewer character errors, {worse} with more (base model `{comparison.base_dir}`).")
    for line in comparison.changed:
        verdict = "better" if line.better else "worse" if line.adapted_cer > line.base_cer else "as many errors"
        st.markdown(f"`{line.id}`: {verdict}, CER {line.base_cer:.1%} → {line.adapted_cer:.1%}")
        left, right = st.columns(2)
        for column, title, text, picture in ((left, "Base model", line.base, line.base_heatmap),
                                             (right, "Adapted model", line.adapted, line.adapted_heatmap)):
            column.markdown(f"**{title}**")
            column.markdown(diff_html(line.text, text), unsafe_allow_html=True)
            column.image(picture, width="stretch", output_format="PNG", alt=f"{title} heatmap of {line.id}")


@st.cache_resource(max_entries=4, show_spinner="Reading the checked lines with both models ...")
def _changed_readings(out: str, stamp: int, decoder: str):
    """:func:`htr.train.compare.changed_readings`, once per adapted folder (``stamp``: its metadata's mtime)."""
    from htr.train.compare import changed_readings

    return changed_readings(out, decoder=decoder)


class _NoData(HTRError):
    """No data folder given yet: said calmly, as what to do next."""


def setting_widget(column, widget: FormField, value):
    """One training setting's input, drawn as its type says; returns the value the setting takes."""
    if widget.kind == "choice":
        chosen = column.selectbox(widget.label, widget.choices, index=_index(widget.choices, value, 0),
                                  key=widget.key, help=widget.help)
    elif widget.kind == "bool":
        chosen = column.checkbox(widget.label, value=bool(value), key=widget.key, help=widget.help)
    elif widget.kind in ("int", "float"):
        cast = int if widget.kind == "int" else float
        chosen = column.number_input(widget.label, widget.low, widget.high, None if value is None else cast(value),
                                     widget.step, format=widget.format, key=widget.key, help=widget.help)
    else:
        chosen = column.text_input(widget.label, value or "", key=widget.key, help=widget.help,
                                   placeholder=widget.placeholder)
    return form_value(widget, chosen)


def _index(options, value, default: int) -> int:
    return list(options).index(value) if value in options else default


def _history(folder: Path) -> list[dict]:
    from htr.train.loop import read_history

    try:
        return read_history(folder)
    except (OSError, ValueError, KeyError):
        return []


def show_curves(history: list[dict], key: str) -> None:
    if not history:
        st.caption("No completed epoch yet.")
        return
    frame = pd.DataFrame(history)
    frame["epoch"] = frame["epoch"].astype(int)
    frame = frame.set_index("epoch")
    c1, c2 = st.columns(2)
    c1.markdown("Training loss")
    c1.line_chart(frame[["loss"]], x_label="epoch", y_label="CTC loss")
    c2.markdown("Validation error rates")
    per_source = [c for c in frame.columns if c.startswith("val_cer_")]
    c2.line_chart(frame[["val_cer", "val_wer", *per_source]], x_label="epoch", y_label="rate")
    st.dataframe(frame.reset_index(), hide_index=True, key=f"history_{key}")


def job_panel(manager: JobManager, run_dir: Path, live: bool) -> None:
    """The run folder's job, refreshed every few seconds while it runs."""

    @st.fragment(run_every=REFRESH_SECONDS if live else None)
    def panel():
        status = manager.status(run_dir)
        st.subheader(f"Run `{run_dir}`")
        if status.running:
            planned = status.epochs_planned
            label = f"{status.state}: epoch {status.epochs_done}" + (f" of {planned}" if planned else "") + " done"
            st.progress(min(1.0, status.epochs_done / planned) if planned else 0.0, text=label)
            if st.button("Stop training", key="train_stop", disabled=status.state == STOPPING,
                         help="interrupts the run; the last completed epoch is kept and can be resumed"):
                with st.spinner("Stopping (the current epoch is abandoned) ..."):
                    status = manager.stop(run_dir)
                st.rerun()
        elif status.state == FINISHED:
            st.success(f"finished: {status.message or f'{status.epochs_done} epochs'}")
        elif status.state == STOPPED:
            if status.epochs_done:
                st.warning(f"stopped after epoch {status.epochs_done}: {status.message}")
            else:
                st.warning("stopped before its first epoch ended: there is nothing to resume; start it again")
        elif status.state == FAILED:
            st.error(f"failed: {status.message} (full log: {run_dir / 'train.log'})")
        elif not status.history:
            st.caption("No training run in this folder yet.")
        if status.command:
            st.caption(f"`{status.command_line}`")
        if status.history:
            last = status.history[-1]
            best = min(status.history, key=lambda row: row["val_cer"])
            m1, m2, m3, m4 = st.columns(4)
            planned = status.epochs_planned
            m1.metric("Epoch", f"{status.epochs_done}" + (f" / {planned}" if planned else ""))
            m2.metric("Loss", f"{last['loss']:.4f}")
            m3.metric("Validation CER", f"{last['val_cer']:.4f}")
            m4.metric(f"Best validation CER (epoch {int(best['epoch'])})", f"{best['val_cer']:.4f}")
            show_curves(status.history, "run")
        if not status.running and (run_dir / "model.weights.h5").is_file():
            model_actions(run_dir)
        if status.log_tail:
            st.markdown("Log (last lines)")
            st.code(status.log_tail, language=None)
        if live and not status.running:
            st.rerun()  # the job ended: redraw the whole tab (buttons, no more refreshing)

    panel()


def served_model_dir() -> Path:
    """The folder the app serves its model from (the app's own rule)."""
    return Path(os.environ.get("HTR_MODEL_DIR", ROOT / "model")).expanduser().resolve()


def served_comparison(run_dir: Path, served: Path):
    """(the run's model against the served one, or None; why they could not be compared, or None),
    measured once per pair of weights files."""

    def mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0

    return _comparison(str(run_dir), str(served), mtime(run_dir / "model.weights.h5"),
                       mtime(served / "model.weights.h5"))


@st.cache_data(max_entries=8, show_spinner="Scoring the app's model on this run's validation lines ...")
def _comparison(run_dir: str, served: str, run_mtime: int, served_mtime: int):
    from htr.train.install import compare_with_served

    try:
        return compare_with_served(run_dir, served), None
    except (HTRError, OSError, ValueError) as exc:
        return None, f"not compared with the app's model: {exc}"


def model_actions(run_dir: Path) -> None:
    """Use a run's best model: in the Inspect and Validate tabs, or as the model the app serves."""
    from htr.train.install import install_model

    served = served_model_dir()
    in_use = Path(st.session_state.get("model_dir") or DEFAULT_MODEL).expanduser().resolve() == run_dir
    c1, c2, _ = st.columns([1, 1, 1])
    if c1.button("Use this model in Inspect and Validate", key="train_use_model", disabled=in_use,
                 help="loads this run's best model in the sidebar's model folder"):
        st.session_state["use_model"] = str(run_dir)
        st.rerun()
    if c2.button("Install as the app's model ...", key="train_install", disabled=run_dir == served,
                 help=f"copies this run's best model into {served}, the folder the demo app serves"):
        st.session_state["install_from"] = str(run_dir)
    if st.session_state.get("install_from") != str(run_dir):
        return
    comparison, why_not = served_comparison(run_dir, served)
    if comparison is not None:
        measured = (f" On the run's {comparison.lines} validation lines ({comparison.data}) this model's CER is "
                    f"{comparison.run_cer:.4f}, the app's model's {comparison.served_cer:.4f}.")
    else:
        measured = f" ({why_not})" if why_not else ""
    st.warning(f"Replace the model in `{served}` with this run's best model?{measured} The files it replaces move "
               "to a backup folder beside it. Restart the app to serve the new model.")
    worse = comparison is not None and comparison.worse
    asked_twice = st.session_state.get("install_worse") == str(run_dir)
    if worse and asked_twice:
        st.warning(f"**This model reads worse than the app's: CER {comparison.run_cer:.4f} against "
                 f"{comparison.served_cer:.4f} on the same {comparison.lines} lines.** Install it all the same?")
    y, n, _ = st.columns([1, 1, 3])
    if n.button("Cancel", key="train_install_cancel"):
        st.session_state.pop("install_from", None)
        st.session_state.pop("install_worse", None)
        st.rerun()
    label = (f"Yes, install the worse model (CER {comparison.run_cer:.4f} for {comparison.served_cer:.4f})"
             if worse and asked_twice else "Yes, install it")
    if y.button(label, key="train_install_worse" if worse and asked_twice else "train_install_confirm",
                type="primary"):
        if worse and not asked_twice:  # a second, explicit confirmation, stating both figures
            st.session_state["install_worse"] = str(run_dir)
            st.rerun()
        st.session_state.pop("install_from", None)
        st.session_state.pop("install_worse", None)
        try:
            installed = install_model(run_dir, served)
        except (HTRError, OSError) as exc:
            st.error(f"Could not install the model: {exc}")
            return
        kept = " The served language model stays, with settings tuned for the previous model." \
            if installed.kept_lm else ""
        backup = f" The replaced files are in `{installed.backup}`." if installed.backup else ""
        st.success(f"Installed `{run_dir}` as the app's model in `{served}`.{backup}{kept} Restart the app "
                   "to serve it.")

