# Figures, the report's context (every number it shows), and the report in HTML and PDF.


include: "inputs/report.smk"


localrules:
    model_cards,
    report_context,
    render_report,
    compile_pdf,


rule plot_curves:
    input:
        unpack(group_histories),
        reported="config/reported.yaml",
        strings=STRINGS,
        code=script_code("plot_curves"),
    output:
        png=report(
            f"{FIGURES}/curves-{{study}}-{{group}}.png",
            caption="../report/captions/curves.rst",
            category="{study}",
            subcategory="Learning curves",
            labels={"figure": "curves", "group": "{group}"},
        ),
        pdf=f"{FIGURES}/curves-{{study}}-{{group}}.pdf",
    log:
        f"{LOGS}/figures/curves-{{study}}-{{group}}.log",
    wildcard_constraints:
        study=any_of(studies()),
        group=any_of(group for _, group in figure_groups()),
    conda:
        "../envs/report.yaml"
    params:
        labels=group_labels,
        language=config["report"]["language"],
    script:
        "../scripts/plot_curves.py"


rule plot_study:
    input:
        metrics=study_metrics,
        reported="config/reported.yaml",
        strings=STRINGS,
        code=script_code("plot_study"),
    output:
        confusion_png=report(
            f"{FIGURES}/confusion-{{study}}.png",
            caption="../report/captions/confusion.rst",
            category="{study}",
            subcategory="Test set",
            labels={"figure": "confusion matrix"},
        ),
        confusion_pdf=f"{FIGURES}/confusion-{{study}}.pdf",
        reproduced_png=report(
            f"{FIGURES}/reproduced-{{study}}.png",
            caption="../report/captions/reproduced.rst",
            category="{study}",
            subcategory="Reproduced against reported",
            labels={"figure": "reproduced vs reported"},
        ),
        reproduced_pdf=f"{FIGURES}/reproduced-{{study}}.pdf",
    log:
        f"{LOGS}/figures/study-{{study}}.log",
    wildcard_constraints:
        study=any_of(studies()),
    conda:
        "../envs/report.yaml"
    params:
        labels=study_labels,
        language=config["report"]["language"],
    script:
        "../scripts/plot_study.py"


rule plot_mistakes:
    input:
        metrics=study_metrics,
        predictions=study_predictions,
        data=study_datasets,
        reported="config/reported.yaml",
        strings=STRINGS,
        code=script_code("plot_mistakes"),
    output:
        png=report(
            f"{FIGURES}/mistakes-{{study}}.png",
            caption="../report/captions/mistakes.rst",
            category="{study}",
            subcategory="Test set",
            labels={"figure": "most confident mistakes"},
        ),
        pdf=f"{FIGURES}/mistakes-{{study}}.pdf",
    log:
        f"{LOGS}/figures/mistakes-{{study}}.log",
    wildcard_constraints:
        study=any_of(studies()),
    conda:
        "../envs/report.yaml"
    params:
        labels=study_labels,
        runs=study_run_files,
        language=config["report"]["language"],
    script:
        "../scripts/plot_mistakes.py"


rule model_cards:
    input:
        metrics=run_files("metrics.json"),
        summaries=run_files("train.json"),
        models=run_files("model.keras"),
        exports=export_checks(),
        stats=dataset_stats(),
        code=script_code("model_cards"),
    output:
        cards=run_files("model_card.md"),
        facts=run_files("model_card.json"),
    log:
        f"{LOGS}/report/model_cards.log",
    conda:
        "../envs/report.yaml"
    params:
        spec=model_card_spec,
    script:
        "../scripts/model_cards.py"


rule plot_grid:
    input:
        metrics=grid_metrics,
        strings=STRINGS,
        code=script_code("plot_grid"),
    output:
        png=report(
            f"{FIGURES}/grid-{{grid}}.png",
            caption="../report/captions/grid.rst",
            category="Grids",
            labels={"figure": "grid", "grid": "{grid}"},
        ),
        pdf=f"{FIGURES}/grid-{{grid}}.pdf",
    log:
        f"{LOGS}/figures/grid-{{grid}}.log",
    wildcard_constraints:
        grid=any_of(GRIDS),
    conda:
        "../envs/report.yaml"
    params:
        grid=grid_spec,
        language=config["report"]["language"],
    script:
        "../scripts/plot_grid.py"


rule report_context:
    input:
        metrics=run_files("metrics.json"),
        stats=dataset_stats(),
        benchmarks=training_benchmarks(),
        exports=export_checks(),
        reported="config/reported.yaml",
        claims=CLAIMS,
        strings=STRINGS,
        code=script_code("report_context"),
    output:
        f"{REPORT}/context.json",
    log:
        f"{LOGS}/report/context.log",
    conda:
        "../envs/report.yaml"
    params:
        spec=report_spec,
    script:
        "../scripts/report_context.py"


# The report in one format: html (with PNG figures) or tex (with PDF figures, for compile_pdf), each
# from its own template; editing one template renders that format alone.
rule render_report:
    input:
        unpack(report_figures),
        context=f"{REPORT}/context.json",
        template=f"{TEMPLATES}/report.{{kind}}.j2",
        partial=f"{TEMPLATES}/_grids.{{kind}}.j2",
        strings=STRINGS,
        code=script_code("render_report"),
    output:
        report(
            f"{REPORT}/report.{{kind}}",
            caption="../report/captions/report.rst",
            category="Report",
            labels={"format": "{kind}"},
        ),
    log:
        f"{LOGS}/report/{{kind}}.log",
    wildcard_constraints:
        kind="html|tex",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/render_report.py"


rule compile_pdf:
    input:
        tex=f"{REPORT}/report.tex",
        figures=list(figure_files("pdf").values()),
    output:
        report(
            f"{REPORT}/report.pdf",
            caption="../report/captions/report.rst",
            category="Report",
            labels={"format": "PDF"},
        ),
    log:
        f"{LOGS}/report/pdf.log",
    conda:
        "../envs/latex.yaml"
    params:
        build=f"{REPORT}/latex",
    shell:
        "latexmk -pdf -interaction=nonstopmode -halt-on-error -outdir={params.build} {input.tex}"
        " > {log} 2>&1 && cp {params.build}/report.pdf {output}"
