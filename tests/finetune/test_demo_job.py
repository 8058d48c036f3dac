"""The demo's first start queues its fine-tune: a training set from the demo examples, and a job that will
repoint the two fine-tuned variants (cancelled here before it trains: test_local_jobs trains for real)."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.main import create_app
from app.models import FineTuneJob
from tests.conftest import API_TOKEN, make_settings, wipe

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


async def test_the_demo_queues_a_fine_tune_that_repoints_its_fine_tuned_variants(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", load_demo=True, demo_finetune=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            jobs = (await client.get("/api/v1/finetune/jobs", headers=AUTH)).json()
            assert len(jobs) == 1 and jobs[0]["status"] in ("queued", "running")
            cancelled = await client.post(f"/api/v1/finetune/jobs/{jobs[0]['id']}/cancel", headers=AUTH)
            assert cancelled.json()["status"] == "cancelled"
            training_set = (await client.get(f"/api/v1/training-sets/{jobs[0]['training_set_id']}", headers=AUTH)).json()
            # 38 examples to train on and 10 held out, each also with the policies' sources (for the hybrid).
            assert (training_set["train_count"], training_set["validation_count"]) == (76, 20)
            assert training_set["sources"] == {"example": 48, "example+sources": 48}
            variants = (await client.get("/api/v1/variants", headers=AUTH)).json()
            fine_tuned = sorted(v["id"] for v in variants if v["strategy"] in ("fine_tuned", "rag_fine_tuned"))
            evaluation = (await client.get(f"/api/v1/datasets/{jobs[0]['evaluation_dataset_id']}", headers=AUTH)).json()
        async with app.state.triptych.sessions() as session:
            job = await session.get(FineTuneJob, jobs[0]["id"])
            assert job is not None and sorted(job.repoint_variant_ids) == fine_tuned and len(fine_tuned) == 2
        # The evaluation holds the 10 held-out examples and the 20 probes, checked against the house format.
        assert evaluation["item_count"] == 30 and evaluation["format_kind"] == "regex"
        await wipe(app.state.triptych)
