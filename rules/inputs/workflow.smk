# What the Snakefile's target rule and its onstart/onsuccess hooks ask for (included by the Snakefile).


def final_outputs():
    """The summary, the report in HTML and LaTeX, its PDF where this run can build it, the configured
    prediction sets, the model cards and the checked exports."""
    outputs = [
        f"{RESULTS}/summary.csv",
        f"{REPORT}/report.html",
        f"{REPORT}/report.tex",
    ]
    outputs += [f"{RESULTS}/predictions/{name}.csv" for name in config["predict"]]
    outputs += run_files("model_card.md") + export_checks()
    return outputs + ([f"{REPORT}/report.pdf"] if PDF.build else [])


def finished_message():
    """Where a finished run's report is, and why the PDF is missing when it is."""
    html = f"{REPORT}/report.html"
    # A run of some targets only (--until, a file) may end before the report exists.
    if not os.path.exists(html):
        return f"Finished; {html} is written by a run of the whole workflow."
    line = console.finished_line(
        f"{REPORT}/report.html",
        f"{REPORT}/report.pdf" if PDF.build else None,
        f"{RESULTS}/summary.csv",
    )
    return line if PDF.build else f"{line}\n{report_pdf.skipped_message(PDF)}"


def check_accelerator():
    """Before the first job: say so, or stop (require_gpu), when real-size training would run on a CPU.

    Runs on the machine that starts the workflow, so only where the jobs run there too; on a cluster
    each training job checks on its own node (scripts/train.py).
    """
    if workflow.non_local_exec:
        return
    to_do = []
    for name, seed in runs():
        if not Path(f"{run_dir(name, seed)}/model.keras").exists():
            spec = experiment(name)
            images = study_config.train_images_before_run(config, spec["dataset"])
            to_do.append({**spec, "images": images or 0})
    hours = accelerator.estimated_cpu_hours(to_do)
    if not to_do or (hours < accelerator.REAL_SIZE_HOURS and not config["require_gpu"]):
        return
    device = accelerator.probe_device(Path(workflow.basedir) / "src")
    if accelerator.is_accelerator(device):
        say(f"Training on {device}.")
    elif config["require_gpu"]:
        accelerator.require_accelerator(device, "on this machine")
    else:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        say(accelerator.no_gpu_message(backend, device, hours, len(to_do)))
