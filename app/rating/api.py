"""REST: blind rating, the rubric, review queues, chunk relevance marks and rating exports."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.accounts.auth import ApiAdmin, ApiRater, ApiUnblinded, ApiUser
from app.core.api_errors import API_ERRORS, errors
from app.core.filters import Filters
from app.core.types import Id
from app.rating.deps import ExportsDep, JudgementsDep, QueuesDep, RatingsDep, RubricDep
from app.rating.presenters import (
    Dataset,
    Kind,
    MinScore,
    Since,
    Tag,
    Until,
    blind_out,
    export_response,
    queue_out,
    rating_out,
)
from app.rating.schemas import (
    BlindComparisonOut,
    DimensionIn,
    DimensionOut,
    JudgementIn,
    NextItemOut,
    QueueIn,
    QueueOut,
    RatingIn,
    RatingOut,
)
from app.rating.service import Dimension

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.get("/comparisons/{comparison_id}/blind", response_model=BlindComparisonOut, responses=errors(409))
async def blind_comparison(comparison_id: Id, user: ApiRater, ratings: RatingsDep) -> BlindComparisonOut:
    """The answers under neutral labels, in this caller's own shuffled order, with the rubric to score on."""
    return blind_out(await ratings.blind_view(comparison_id, user.name))


@router.post(
    "/comparisons/{comparison_id}/ratings",
    response_model=RatingOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(409),
)
async def rate_comparison(
    comparison_id: Id, body: RatingIn, user: ApiRater, ratings: RatingsDep, response: Response
) -> RatingOut:
    """One rating per caller per comparison; posting again edits it (200 instead of 201). The answer reveals
    the variants."""
    stored = await ratings.submit(comparison_id, user.name, body)
    if stored.rating.updated_at is not None:
        response.status_code = status.HTTP_200_OK
    unrated = await ratings.unrated_turns(stored.comparison, user.name)
    return rating_out(stored.rating, stored.comparison, stored.scores, unrated_turns=unrated)


@router.get("/comparisons/{comparison_id}/ratings/mine", response_model=RatingOut)
async def my_rating(comparison_id: Id, user: ApiRater, ratings: RatingsDep) -> RatingOut:
    comparison, rating = await ratings.mine(comparison_id, user.name)
    return rating_out(rating, comparison, unrated_turns=await ratings.unrated_turns(comparison, user.name))


@router.get("/rubric", response_model=list[DimensionOut])
async def get_rubric(_user: ApiUser, rubric: RubricDep) -> list[DimensionOut]:
    return [
        DimensionOut(key=d.key, label=d.label, description=d.description) for d in await rubric.dimensions()
    ]


@router.put("/rubric", response_model=list[DimensionOut])
async def put_rubric(body: list[DimensionIn], _user: ApiAdmin, rubric: RubricDep) -> list[DimensionOut]:
    """Replace the rubric. Existing ratings keep their scores; new ratings must score the new dimensions."""
    saved = await rubric.replace([Dimension(d.key, d.label, d.description) for d in body])
    return [DimensionOut(key=d.key, label=d.label, description=d.description) for d in saved]


@router.get("/queues", response_model=list[QueueOut])
async def list_queues(user: ApiUser, queues: QueuesDep) -> list[QueueOut]:
    return [queue_out(p) for p in await queues.all_progress(user.name)]


@router.post("/queues", response_model=QueueOut, status_code=status.HTTP_201_CREATED)
async def create_queue(body: QueueIn, user: ApiAdmin, queues: QueuesDep) -> QueueOut:
    """Queue comparisons (by id, or every one from a dataset and/or with a tag) for k blind ratings each."""
    queue = await queues.create(body, user.name)
    return queue_out(await queues.progress(queue, user.name))


@router.get("/queues/{queue_id}", response_model=QueueOut)
async def get_queue(queue_id: Id, user: ApiUser, queues: QueuesDep) -> QueueOut:
    return queue_out(await queues.progress(await queues.get(queue_id), user.name))


@router.get("/queues/{queue_id}/next", response_model=NextItemOut)
async def next_item(queue_id: Id, user: ApiRater, queues: QueuesDep) -> NextItemOut:
    """The next comparison you have not rated that still needs raters (null when none is left)."""
    progress = await queues.progress(await queues.get(queue_id), user.name)
    return NextItemOut(comparison_id=progress.next_comparison_id, left_for_me=progress.left_for_me)


@router.delete("/queues/{queue_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_queue(queue_id: Id, _user: ApiAdmin, queues: QueuesDep) -> Response:
    """The queue goes; its comparisons and ratings stay."""
    await queues.delete(queue_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/outputs/{output_id}/contexts/{rank}/judgement", status_code=status.HTTP_204_NO_CONTENT)
async def judge_chunk(
    output_id: Id, rank: Id, body: JudgementIn, user: ApiRater, judgements: JudgementsDep
) -> None:
    """Mark the output's rank-th retrieved chunk (1-based) relevant or not; feeds precision@k and MRR."""
    await judgements.judge(output_id, rank, user, body.relevant)


@router.get(
    "/exports/{kind}",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "The download"}},
)
async def export(
    kind: Kind,
    _user: ApiUnblinded,
    exports: ExportsDep,
    since: Since = None,
    until: Until = None,
    dataset: Dataset = None,
    tag: Tag = None,
    min_score: MinScore = 4.0,
) -> Response:
    """ratings.csv / ratings.jsonl (every rating, outputs in the order shown), dpo.jsonl (`input`,
    `preferred_output`, `non_preferred_output`), chat.jsonl (corrected and top-rated answers as chat messages).
    Admins and viewers only: raters rate blind."""
    filters = Filters(since, until, dataset or None, tag or None)
    return export_response(kind, await exports.body(kind, filters, min_score))
