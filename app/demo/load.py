"""First-start demo: the bundled endpoint, Larkspur's policies and house-style examples, four variants."""

from __future__ import annotations

import logging

from app.catalog.schemas import EndpointIn, ExampleIn, ExampleSetIn, VariantIn
from app.catalog.service import EndpointService, ExampleSetService, VariantService
from app.core.auth import BACKGROUND
from app.core.settings import BUNDLED_MODEL_ID
from app.datasets.schemas import DatasetIn, ItemIn
from app.datasets.service import DatasetService
from app.demo import knowledge_files, read_jsonl
from app.evaluation.metrics import HOUSE_FORMAT_RULE
from app.evaluation.probes import general_probes
from app.finetune.schemas import FineTuneJobIn, HyperparametersIn, TrainingSetIn
from app.finetune.service import FineTuneService, TrainingSetService
from app.state import AppState

log = logging.getLogger(__name__)

HOUSE_SYSTEM_PROMPT = (
    "You are the HR assistant of Larkspur Logistics. Answer employee questions in the house format: "
    "a line 'Answer:' with the fact, a line 'Policy:' naming the policy, a line 'Ask:' with the contact email."
)


DEMO_DATASET = "Larkspur evaluation"
DEMO_EXAMPLE_SET = "Larkspur house answers"
DEMO_KNOWLEDGE_BASE = "Larkspur policies"
DEMO_TRAINING_SET = "Larkspur house answers (demo fine-tune)"
DEMO_FINE_TUNED_VARIANTS = ("Fine-tuned (house format)", "Fine-tuned + RAG")


def demo_dataset() -> DatasetIn:
    """The 30 held-out policy questions (with house-format references and the document holding each fact)
    and the 20 general-knowledge probes (tagged "general": they show what a fine-tune forgot)."""
    questions = [
        ItemIn(query=r["query"], reference=r["reference"], tags=["policy", *r.get("tags", [])], expected_source=r.get("source", ""))
        for r in read_jsonl("questions.jsonl")
    ]
    probes = [ItemIn(query=p.query, reference=p.reference, tags=list(p.tags)) for p in general_probes()]
    return DatasetIn(
        name=DEMO_DATASET,
        description="Held-out Larkspur policy questions in the house format, and general-knowledge probes.",
        format_kind="regex",
        format_rule=HOUSE_FORMAT_RULE,
        probe_tag="general",
        items=questions + probes,
    )


async def load_demo(state: AppState) -> bool:
    """Load the demo once (skipped when any variant exists); returns whether it loaded."""
    async with state.sessions() as session:
        if await VariantService(session).list(include_archived=True):
            return False
    log.info("loading the demo: bundled endpoint, knowledge base, examples, variants")
    kb = await state.knowledge.create(
        DEMO_KNOWLEDGE_BASE, "Employee policies of Larkspur Logistics (fictional demo company)."
    )
    files = [(path.name, path.read_bytes()) for path in knowledge_files()]
    upload = await state.knowledge.add_documents(kb.id, files, start=False)
    if upload.job is not None:
        await state.ingest.run(upload.job.id)  # before the variants exist, so the first question can retrieve

    async with state.sessions.begin() as session:
        endpoints = EndpointService(session, state.cipher, allow_private=True)
        endpoint = await endpoints.create(
            EndpointIn(
                name="Bundled SmolLM2-135M (local)",
                kind="openai",
                base_url=state.settings.resolved_local_model_url,
                model=BUNDLED_MODEL_ID,
                price_prompt_per_m=0.0,
                price_completion_per_m=0.0,
                timeout_s=120,
                # It answers one request at a time; two in flight let retrieval overlap generation.
                max_concurrency=2,
            ),
            is_bundled=True,
        )
        example_set = await ExampleSetService(session).create(
            ExampleSetIn(
                name=DEMO_EXAMPLE_SET,
                description="Employee questions with answers in the house format (Answer / Policy / Ask).",
                examples=[ExampleIn(**row) for row in read_jsonl("examples.jsonl")],
            )
        )
        await DatasetService(session, BACKGROUND).create(demo_dataset())
        common = {"endpoint_id": endpoint.id, "max_tokens": 160, "temperature": 0.2}
        variants = VariantService(session)
        for spec in (
            VariantIn(
                name="Few-shot (house format)",
                strategy="few_shot",
                description="Three most similar worked examples in the prompt.",
                system_prompt=HOUSE_SYSTEM_PROMPT,
                example_set_id=example_set.id,
                few_shot_k=3,
                few_shot_selection="similar",
                **common,
            ),
            VariantIn(
                name="RAG (policies)",
                strategy="rag",
                description="Top-3 policy chunks from Chroma, cited by number.",
                knowledge_base_id=kb.id,
                top_k=3,
                **common,
            ),
            VariantIn(
                name="Fine-tuned (house format)",
                strategy="fine_tuned",
                description="The query alone to a fine-tuned model.",
                **common,
            ),
            VariantIn(
                name="Fine-tuned + RAG",
                strategy="rag_fine_tuned",
                description="The fine-tuned model with the same retrieved context.",
                knowledge_base_id=kb.id,
                top_k=3,
                **common,
            ),
        ):
            await variants.create(spec)
    return True


async def start_demo_finetune(state: AppState) -> int | None:
    """The demo's first start: a short LoRA job on the house-format examples, in the background; when it
    succeeds the two fine-tuned variants get a new version on the fine-tuned model (so nothing says "base
    model stand-in" any more) and its before/after evaluation runs. Returns the job id (None: no examples)."""
    async with state.sessions.begin() as session:
        example_sets = {s.name: s.id for s, _count in await ExampleSetService(session).list()}
        if DEMO_EXAMPLE_SET not in example_sets:
            return None
        variants = [v.id for v in await VariantService(session).list() if v.name in DEMO_FINE_TUNED_VARIANTS]
        knowledge_bases = {kb.name: kb.id for kb in await state.knowledge.active()}
        # With the policies' sources too: the hybrid learns to answer from them and cite them.
        training_set = await TrainingSetService(session, BACKGROUND, state.store).build(
            TrainingSetIn(
                name=DEMO_TRAINING_SET,
                example_set_id=example_sets[DEMO_EXAMPLE_SET],
                knowledge_base_id=knowledge_bases.get(DEMO_KNOWLEDGE_BASE),
            ),
            "demo",
        )
        job = await FineTuneService(session, state.cipher).create(
            FineTuneJobIn(
                training_set_id=training_set.id,
                # Two epochs: the house format and citing are learned by then (validation loss 1.13 -> 0.96,
                # 0.94 after a third), and the demo is ready within about five minutes on two cores.
                hyperparameters=HyperparametersIn(epochs=2),
                format_kind="regex",
                format_rule=HOUSE_FORMAT_RULE,
            ),
            "demo",
            repoint_variant_ids=variants,
        )
        job_id = job.id
    log.info("fine-tuning the bundled model on the demo examples (job %s)", job_id)
    await state.jobs.enqueue("finetune", job_id)
    return job_id
