"""A finished model becomes usable: an endpoint serving it, a variant on it and one on its base (the
evaluation compares the two), variants repointed on request, and a one-click hybrid with retrieval."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.schemas import EndpointIn, VariantIn, VariantPatch
from app.catalog.service import EndpointService, VariantService, endpoint_config
from app.core.auth import BACKGROUND
from app.core.errors import Conflict, NotFound
from app.core.secrets import KeyCipher
from app.core.settings import BUNDLED_MODEL_ID
from app.finetune.backends import Trained
from app.finetune.service import TrainingSetService
from app.models import Endpoint, FineTuneJob, Variant
from app.providers.base import EndpointConfig

EVALUATION_DECODING = {"temperature": 0.2, "max_tokens": 200}


@dataclass(frozen=True)
class Published:
    endpoint_id: int
    base_variant_id: int
    tuned_variant_id: int


class Publisher:
    def __init__(self, cipher: KeyCipher, local_model_url: str):
        self.cipher = cipher
        self.local_model_url = local_model_url

    async def endpoint_config(self, session: AsyncSession, endpoint_id: int) -> EndpointConfig:
        return endpoint_config(await EndpointService(session, self.cipher, allow_private=True).get(endpoint_id), self.cipher)

    async def _bundled_base(self, session: AsyncSession) -> Endpoint:
        """The bundled base model's endpoint (made if the demo was never loaded)."""
        endpoints = EndpointService(session, self.cipher, allow_private=True)
        found = await endpoints.bundled(BUNDLED_MODEL_ID)
        if found is not None:
            return found
        return await endpoints.create(
            EndpointIn(
                name="Bundled SmolLM2-135M (local)",
                base_url=self.local_model_url,
                model=BUNDLED_MODEL_ID,
                price_prompt_per_m=0.0,
                price_completion_per_m=0.0,
                timeout_s=120,
                max_concurrency=2,
            ),
            is_bundled=True,
        )

    async def publish(self, session: AsyncSession, job: FineTuneJob, trained: Trained) -> Published:
        training_set = await TrainingSetService(session, BACKGROUND).get(job.training_set_id)
        endpoints = EndpointService(session, self.cipher, allow_private=True)
        label = f"Fine-tune #{job.id} ({training_set.name})"[:120]
        if job.backend == "local":
            # The fine-tune is in the bundled server's folder already: the server picks it up from there.
            base = await self._bundled_base(session)
            endpoint = await endpoints.create(
                EndpointIn(
                    name=label,
                    base_url=base.base_url,
                    model=trained.model_id,
                    price_prompt_per_m=0.0,
                    price_completion_per_m=0.0,
                    timeout_s=base.timeout_s,
                    max_concurrency=base.max_concurrency,
                    is_fine_tuned=True,
                ),
                is_bundled=True,
            )
        else:
            assert job.endpoint_id is not None
            base = await endpoints.get(job.endpoint_id)
            config = endpoint_config(base, self.cipher)
            endpoint = await endpoints.create(
                EndpointIn(
                    name=label,
                    base_url=base.base_url,
                    model=trained.model_id,
                    api_key=config.api_key,
                    price_prompt_per_m=base.price_prompt_per_m,
                    price_completion_per_m=base.price_completion_per_m,
                    timeout_s=base.timeout_s,
                    max_concurrency=base.max_concurrency,
                    is_fine_tuned=True,
                )
            )
        variants = VariantService(session)
        tuned = await variants.create(
            VariantIn(
                name=label,
                strategy="fine_tuned",
                description=f"{trained.model_id}, fine-tuned on {training_set.name!r}.",
                endpoint_id=endpoint.id,
                system_prompt=training_set.system_prompt,
                **EVALUATION_DECODING,
            )
        )
        # The base with exactly the same messages (a few-shot variant with no examples sends the system
        # prompt and the question, as the fine-tuned one does): a deliberate baseline, not a stand-in.
        baseline = await variants.create(
            VariantIn(
                name=f"Fine-tune #{job.id} base ({job.base_model})"[:120],
                strategy="few_shot",
                few_shot_k=0,
                description="The model before this fine-tune, with the same prompt: what the evaluation compares against.",
                endpoint_id=base.id,
                system_prompt=training_set.system_prompt,
                **EVALUATION_DECODING,
            )
        )
        for variant_id in job.repoint_variant_ids:
            with contextlib.suppress(NotFound):  # a variant deleted since the job started is skipped
                await variants.update(int(variant_id), VariantPatch(endpoint_id=endpoint.id))
        return Published(endpoint.id, baseline.id, tuned.id)

    async def hybrid(self, session: AsyncSession, job: FineTuneJob, knowledge_base_id: int, top_k: int = 3) -> Variant:
        """One click: the fine-tuned model with retrieval (rag_fine_tuned) on the job's endpoint."""
        if job.status != "succeeded" or job.result_endpoint_id is None:
            raise Conflict(f"fine-tuning job {job.id} has no model yet ({job.status})")
        training_set = await TrainingSetService(session, BACKGROUND).get(job.training_set_id)
        return await VariantService(session).create(
            VariantIn(
                name=f"Fine-tune #{job.id} + RAG (KB {knowledge_base_id})"[:120],
                strategy="rag_fine_tuned",
                description=f"{job.result_model} with the knowledge base's top {top_k} chunks.",
                endpoint_id=job.result_endpoint_id,
                system_prompt=training_set.system_prompt,
                knowledge_base_id=knowledge_base_id,
                top_k=top_k,
                **EVALUATION_DECODING,
            )
        )
