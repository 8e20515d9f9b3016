# The config's sources: files below `resources` verified, folders recorded, and where each is read
# (included by the Snakefile).


# A file below `resources` that no download wrote (placed or replaced by hand) is checked against the
# config before anything reads it; one that does not verify is set aside and fetched again.
if workflow.exec_mode == ExecMode.DEFAULT:
    verify_present_sources(
        Path(RESOURCES),
        {
            name: source
            for name, source in config["sources"].items()
            if study_config.source_kind(source) == "download"
        },
        say,
    )
# A `directory:` source is read where it is; its input is a record of its files (paths, sizes, hashes),
# rewritten here only when they change, so that exactly the jobs reading the folder run again then.
DIRECTORY_RECORDS = {
    name: f"{RESULTS}/data/directories/{name}.json"
    for name, source in config["sources"].items()
    if "directory" in source
}
if workflow.exec_mode == ExecMode.DEFAULT:
    for _name, _record in DIRECTORY_RECORDS.items():
        record_directory(Path(config["sources"][_name]["directory"]), Path(_record))


def source_path(name):
    if name in DIRECTORY_RECORDS:
        return DIRECTORY_RECORDS[name]
    return f"{RESOURCES}/{config['sources'][name]['path']}"


def sources_of_kind(kind):
    return [
        name
        for name, source in config["sources"].items()
        if study_config.source_kind(source) == kind
    ]


def source_paths_of_kind(kind):
    return any_of(config["sources"][name]["path"] for name in sources_of_kind(kind))


def source_named_by_path(wildcards):
    """The source whose file a download or generator job writes."""
    for name, source in config["sources"].items():
        if source.get("path") == wildcards.path:
            return name
    raise WorkflowError(f"no source has path {wildcards.path!r}")
