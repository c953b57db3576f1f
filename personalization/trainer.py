"""Train one concept: k+1 input vectors and one output vector, the model frozen (docs/method.md §8).

Read top to bottom: prepare (photos, negatives, image tokens, attribute QA), then the loop
(AdamW on the concept's vectors only, loss on answer tokens only), measuring recognition
on the training photos after every epoch and keeping the best epoch.

Speed choices, and what each buys:
- vision tower + projector run once per training photo (and once per mirror image), not
  once per step: they are frozen, so their output never changes;
- the prompt up to the first concept token (chat start + image tokens) runs without
  gradients into a key/value cache (batch.py): the backward pass never touches the
  hundreds of image tokens, only the concept prompt, questions and answers;
- several questions about one photo share one sequence (batch.py): the image's tokens
  go through the language model once per photo per step, not once per question;
- padded batches of several examples per step instead of batch 1, each batch of one kind
  (data.batches) so that padding wastes little;
- logits only at answer positions: the vocabulary projection is skipped everywhere else;
- the concept's vectors live outside the model: no full-table gradients or optimizer
  state, no copying the other rows back after each step;
- turns tokenized once per training; bf16 autocast on GPU; early stop once training
  recognition is perfect for `patience` epochs;
- memory: a batch whose activations would pass `step_memory_mb` runs as micro-batches whose
  gradients add up before the one optimizer step (long text-only QA rows are the usual
  case), and the photos' image tokens wait in CPU memory until their batch needs them; so a
  7B model trains on a 24 GB card at the batch size that keeps a big GPU busy.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
from PIL import Image, ImageOps

from .types import CancelToken, Pause, ProgressCallback, TrainingCancelled, TrainProgress, TrainRequest, TrainResult
from . import augment, data, negatives, phrasings
from .pacing import in_chunks
from .backends.base import ImageTokens
from .batch import Branch, Packed, Row, answer_loss, hidden_states, pack, pooled, yes_probability
from .concept import Concept
from .gendata import DrawingConfig
from .inference import Prompt, open_photo
from .prompts import Cursor, concept_prompt, continue_turn, fill

if TYPE_CHECKING:
    from . import Engine

log = logging.getLogger(__name__)

Batch = list[Any]  # examples of one kind: data.Example here; drawtrainer.py adds drawings


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 15
    # A concept whose training recognition is still below `fitted` after `epochs` gets up to
    # `extra_epochs` more: among close look-alikes a concept can answer "no" to everything for
    # 8-10 epochs before it finds its subject; most pass 0.9 within 15 and stop there.
    extra_epochs: int = 10
    fitted: float = 0.9
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-2
    k: int = 16  # latent tokens (at most the engine's slot width)
    batch_size: int = 8  # examples per step (the recipe: 1; batches are what make a GPU busy)
    hard_per_positive: int = 30  # top similar everyday photos per positive (paper: 100-200 in all)
    easy_negatives: int = 50  # random everyday photos (paper: about 100)
    positive_turns: int | None = None  # questions per positive photo per epoch; None: as many "yes" as "no"
    negative_turns: int = 2  # questions per negative photo per epoch (the paper: 1); a second costs little
    qa_per_photo: int = 10  # attribute questions asked of the base model per positive photo
    qa_answer_tokens: int = 40
    flip: bool = True  # random horizontal flips of the positives (mirror images encoded once, up front)
    views: int = 3  # extra crop-and-turn views of each positive photo (augment.py), encoded once, up front
    flip_negatives: bool = False  # doubles the negatives' vision cost and memory for little gain
    patience: int = 2  # stop after this many epochs in a row at perfect training recognition
    step_memory_mb: int = 4096  # estimated activations per forward/backward; bigger batches are split
    drawing: DrawingConfig = DrawingConfig()  # a model that draws: generation tokens and their data


Encoded = ImageTokens | torch.Tensor  # what an ImageBank keeps per photo: LM image tokens, or VQ codes


class ImageBank:
    """LM image tokens (or, with `encode`, e.g. VQ tokens) of every training photo and mirror image, computed once."""

    def __init__(self, engine: "Engine", images: list[Image.Image], mirrored: list[bool],
                 encode: Callable[[list[Image.Image]], Sequence[Encoded]] | None = None,
                 between: Pause | None = None) -> None:
        keys = [(i, False) for i in range(len(images))] + [(i, True) for i, m in enumerate(mirrored) if m]
        pictures = [ImageOps.mirror(images[i]) if flip else images[i] for i, flip in keys]
        self.device = engine.backend.device
        # Kept in CPU memory (pinned, for a quick copy): a 7B model's tokens of 250 photos are ~1.2 GB.
        pin = self.device.type == "cuda"
        self.tokens: dict[tuple[int, bool], Encoded] = {}
        for chunk in in_chunks(range(len(keys)), engine.inference.batch_size, between):
            images = [pictures[i] for i in chunk]
            encoded = encode(images) if encode else engine.backend.encode_images(images).tokens
            self.tokens.update((keys[i], t.cpu().pin_memory() if pin else t.cpu()) for i, t in zip(chunk, encoded))

    def get(self, index: int, flip: bool) -> Encoded:
        return self.tokens.get((index, flip), self.tokens[(index, False)]).to(self.device, non_blocking=True)

    def length(self, index: int) -> int:
        """How many tokens a photo's image takes (no copy to the device)."""
        return len(self.tokens[(index, False)])


class Trainer:
    draws = False  # whether concepts get generation tokens too (drawtrainer.py)

    def __init__(self, engine: "Engine", request: TrainRequest, config: TrainConfig,
                 progress: ProgressCallback | None, cancel: CancelToken | None, between: Pause | None = None) -> None:
        self.engine, self.backend, self.request, self.config = engine, engine.backend, request, config
        self.progress, self.cancel, self.between = progress or (lambda _: None), cancel, between
        self.rng = random.Random(request.seed)
        # Drawing models: generation tokens, then the k understanding ones, forced after each question.
        self.n_generation = config.drawing.k if self.draws else 0
        self.n_latents = self.n_generation + config.k
        slot = self.backend.slots.ids(0, self.n_latents)
        self.prompt = concept_prompt(slot.identifier, slot.latents)
        self.who = (slot.identifier,)
        self.forced: tuple[int, ...] = slot.latents[self.n_generation:] if self.draws else ()
        self._prompted: dict[int | None, Cursor] = {}
        self._turns: dict[tuple[str, data.Turn], tuple[list[int], int | None]] = {}
        # What a token keeps for the backward pass, measured on LLaVA-7B in bf16, is a multiple of
        # hidden size x layers bytes: ~50 for a live token (the MLP's three wide tensors, the norms'
        # fp32 copies, attention), 4 for a cached one (its key and value, joined to the live ones).
        text = self.backend.model.config.get_text_config()
        self.memory_unit = text.hidden_size * text.num_hidden_layers

    def checkpoint(self) -> bool:
        """A point where training may stop (cancelled) or pause (the caller uses the model, then
        training goes on): between the chunks of its preparation, its steps and its scoring batches.
        Returns whether questions are coming in (see `step`)."""
        lively = self.between() if self.between is not None else False
        if self.cancel is not None and self.cancel.is_set():
            raise TrainingCancelled()
        return bool(lively)

    # -- preparing ----------------------------------------------------------------------------

    def prepare(self) -> data.Plan:
        request, config = self.request, self.config
        self.progress(TrainProgress("preparing"))
        positives = [open_photo(p) for p in request.positives]
        found = negatives.mine(self.engine.negative_pool, positives, list(request.positives),
                               [open_photo(p) for p in request.negatives] + self.lookalikes(positives),
                               request.negatives_dir, config.hard_per_positive, config.easy_negatives, self.rng,
                               self.checkpoint)
        self.checkpoint()
        # The photos first (attribute QA asks about those), then their extra views, then the negatives.
        subject = positives + augment.views(positives, config.views, self.rng)
        images = subject + found.hard + found.easy
        n_negatives = len(images) - len(subject)
        mirrored = [config.flip] * len(subject) + [config.flip and config.flip_negatives] * n_negatives
        self.bank = ImageBank(self.engine, images, mirrored, between=self.checkpoint)
        self.n_photos, self.n_positives = len(positives), len(subject)
        qa = self.attribute_qa()
        return data.Plan.balanced(len(subject), n_negatives, qa, config.positive_turns,
                                  config.negative_turns, config.flip, config.flip_negatives)

    def lookalikes(self, positives: list[Image.Image]) -> list[Image.Image]:
        return []  # extra hard negatives made by the trainer itself: drawtrainer.py draws some

    def attribute_qa(self) -> list[tuple[data.Turn, ...]]:
        """Attribute questions answered by the base model looking at each positive photo."""
        pairs = data.attribute_turns(self.request.category, self.config.qa_per_photo)
        if not pairs:
            return []
        tokens, prompts = self.backend.tokens, []
        for i in range(self.n_photos):
            image = self.bank.get(i, False)
            for asked, _ in pairs:
                ids = list(tokens.start(len(image)).user([asked]).assistant().ids)
                prompts.append(Prompt(ids, image, [], {}))
        answers: list[str] = []
        # the batches generate() makes, with a pause after each
        for chunk in in_chunks(prompts, self.engine.inference.batch_size, self.checkpoint):
            answers += self.engine.inference.generate(list(chunk), max_new_tokens=self.config.qa_answer_tokens)
        return [data.qa_turns(pairs, answers[i * len(pairs):(i + 1) * len(pairs)], self.request.category)
                for i in range(self.n_photos)]

    # -- examples -> rows ---------------------------------------------------------------------

    def row(self, example: data.Example) -> Row:
        image = None if example.image is None else self.bank.get(example.image, example.flip)
        prompted = self.prompted(None if image is None else len(image))
        return Row(list(prompted.ids), image, [Branch(*self.turn_ids(prompted, t)) for t in example.turns])

    def prompted(self, image_tokens: int | None) -> Cursor:
        """The start of the user turn with the concept prompt "<bo> is <t0>...<t15>."."""
        if image_tokens not in self._prompted:
            self._prompted[image_tokens] = self.backend.tokens.start(image_tokens).user(self.prompt)
        return self._prompted[image_tokens]

    def turn_ids(self, prompted: Cursor, turn: data.Turn) -> tuple[list[int], int | None]:
        """A turn's ids after the prompt and where its answer starts (None: a question to read yes/no from)."""
        key = (prompted.text, turn)  # tokenized once per training: turns recur every epoch
        if key not in self._turns:
            asked = prompted.user(continue_turn(fill(turn.question, self.who)))
            if turn.answer:  # forced tokens are context, not trained: they are given at inference too
                question_end = asked.assistant(self.forced)
                said = question_end.answer(fill(turn.answer, self.who))
                self._turns[key] = (said.after(prompted), len(question_end.after(prompted)))
            else:
                self._turns[key] = (asked.ask(self.forced).after(prompted), None)
        return self._turns[key]

    def bound(self, inputs: torch.Tensor, output: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The trainable vectors bound to slot 0 of every row (views: gradients flow back)."""
        slots, dtype = self.backend.slots, self.backend.dtype
        padded = torch.cat([inputs, inputs.new_zeros(slots.stride - inputs.shape[0], inputs.shape[1])])
        return padded.to(dtype).expand(rows, -1, -1), output.to(dtype).expand(rows, 1, -1)

    def forward_rows(self, examples: list[data.Example]) -> tuple[Packed, torch.Tensor]:
        packed = pack(self.backend, [self.row(e) for e in examples])
        return packed, hidden_states(self.backend, packed)

    @torch.no_grad()
    def recognition(self, inputs: torch.Tensor, output: torch.Tensor, n_images: int) -> tuple[float, float]:
        """(weighted accuracy, mean log-probability of the right answer) on the training photos."""
        correct: dict[bool, list[bool]] = {True: [], False: []}
        log_p: list[float] = []
        asked = len(phrasings.RECOGNITION_ASKED)  # questions per photo, as the recogniser asks them
        # scoring an epoch is as long as several steps: it pauses too
        for indices in in_chunks(range(n_images), self.config.batch_size, self.checkpoint):
            with self.backend.slots.bind(*self.bound(inputs, output, len(indices))), self.backend.autocast():
                packed, hidden = self.forward_rows([data.check_questions(i) for i in indices])
                p_yes = pooled(yes_probability(self.backend, packed, hidden).float(), asked).cpu()
            for i, p in zip(indices, p_yes.tolist()):
                present = i < self.n_positives
                p_right = p if present else 1.0 - p
                correct[present].append(p_right > 0.5)
                log_p.append(float(torch.tensor(max(p_right, 1e-6)).log()))
        accuracy = [sum(v) / len(v) for v in correct.values() if v]
        return sum(accuracy) / len(accuracy), sum(log_p) / max(1, len(log_p))

    def loss(self, batch: Batch) -> torch.Tensor:
        """The loss of one batch (the concept's vectors bound)."""
        return answer_loss(self.backend, *self.forward_rows(batch))

    def step(self, batch: Batch, inputs: torch.Tensor, output: torch.Tensor, optimizer: torch.optim.Optimizer,
             lively: bool = False) -> float:
        """One optimizer step on a batch of examples; returns the loss.

        While questions are coming in (`lively`, from the checkpoint before the step), the step runs
        one example at a time with a checkpoint after each, so that a question waits for one
        example's forward and backward, not a whole step's; otherwise in as few parts as memory allows.
        """
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        parts = [[example] for example in batch] if lively else self.micro_batches(batch)
        for i, part in enumerate(parts):  # gradients add up: one step, whatever the split
            if i and lively:
                self.checkpoint()
            with self.backend.slots.bind(*self.bound(inputs, output, len(part))), self.backend.autocast():
                loss = self.loss(part) * (len(part) / len(batch))
            loss.backward()
            total += loss.item()
        optimizer.step()
        return total

    def micro_batches(self, batch: Batch) -> list[Batch]:
        """Consecutive runs of the batch whose estimated activations fit `step_memory_mb`."""
        budget = self.config.step_memory_mb * 2**20
        parts: list[Batch] = [[]]
        frozen = live = 0  # the widest row of the current part: padding makes every row that wide
        for example in batch:
            f, l = self.tokens_of(example)
            frozen, live = max(frozen, f), max(live, l)
            if parts[-1] and (len(parts[-1]) + 1) * self.memory_unit * (4 * frozen + 50 * live) > budget:
                parts.append([])
                frozen, live = f, l
            parts[-1].append(example)
        return parts

    def tokens_of(self, example: Any) -> tuple[int, int]:
        """(cached, live) tokens of an example's row: what its share of a step's memory grows with."""
        prompted = self.prompted(None if example.image is None else self.bank.length(example.image))
        return len(prompted.ids), sum(len(self.turn_ids(prompted, t)[0]) for t in example.turns)

    def optimizer(self, inputs: torch.Tensor, output: torch.Tensor) -> torch.optim.Optimizer:
        config = self.config
        return torch.optim.AdamW([inputs, output], lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)

    # -- the loop -----------------------------------------------------------------------------

    def batches(self, plan: data.Plan, rng: random.Random) -> list[Batch]:
        """One epoch of batches."""
        return data.batches(plan.epoch(rng), self.config.batch_size, rng)

    def score(self, inputs: torch.Tensor, output: torch.Tensor, plan: data.Plan) -> tuple[float, ...]:
        """What picks the epoch kept (compared as a tuple); here (recognition accuracy, its log-probability)."""
        return self.recognition(inputs, output, self.n_positives + plan.n_negatives)

    def accuracy(self, score: tuple[float, ...]) -> float:
        """The training recognition accuracy inside a score."""
        return score[0]

    def saturated(self, score: tuple[float, ...]) -> bool:
        """Whether this epoch counts towards the early stop: training recognition is perfect."""
        return self.accuracy(score) >= 1.0

    def run(self) -> TrainResult:
        backend, config = self.backend, self.config
        plan = self.prepare()
        inputs, output = self.initial_vectors()
        optimizer = self.optimizer(inputs, output)
        steps_per_epoch = len(self.batches(plan, random.Random(0)))
        epochs = config.epochs  # the plan; extended once if the concept is not fitted by then
        total, step, started = epochs * steps_per_epoch, 0, time.monotonic()
        best: tuple[tuple[float, ...], torch.Tensor, torch.Tensor] | None = None
        perfect_epochs, epochs_run = 0, 0
        for epoch in range(1, config.epochs + config.extra_epochs + 1):
            if epoch > epochs:
                assert best is not None
                if self.accuracy(best[0]) >= config.fitted:
                    break
                log.info("training recognition %.3f after %d epochs: up to %d more", self.accuracy(best[0]),
                         epochs, config.extra_epochs)
                epochs += config.extra_epochs
                total = epochs * steps_per_epoch
            losses = []
            for batch in self.batches(plan, self.rng):
                lively = self.checkpoint()
                losses.append(self.step(batch, inputs, output, optimizer, lively))
                step += 1
                eta = (time.monotonic() - started) / step * (total - step)
                self.progress(TrainProgress("training", epoch, epochs, step, total, losses[-1], eta,
                                            extended=epochs > config.epochs))
            epochs_run = epoch
            score = self.score(inputs, output, plan)
            log.info("epoch %d: loss %.4f, training recognition %.3f, score %s", epoch, sum(losses) / len(losses),
                     self.accuracy(score), ", ".join(f"{v:.3f}" for v in score))
            if best is None or score > best[0]:
                best = (score, inputs.detach().clone(), output.detach().clone())
            perfect_epochs = perfect_epochs + 1 if self.saturated(score) else 0
            if perfect_epochs >= config.patience:
                break  # training recognition saturated: more epochs only sharpen what is already right
        assert best is not None
        concept = Concept(best[1].float().cpu(), best[2].float().cpu(), backend.model_id, backend.fingerprint,
                          self.request.name, self.n_generation)
        self.progress(TrainProgress("done", epochs_run, epochs, step, step, None, 0.0, extended=epochs > config.epochs))
        return TrainResult(concept.to_bytes(), self.accuracy(best[0]), epochs_run)

    def initial_vectors(self) -> tuple[torch.nn.Parameter, torch.nn.Parameter]:
        """From a warm start, else the mean input/output embedding plus a little noise (seeded)."""
        backend, k = self.backend, self.n_latents
        if self.request.warm_start is not None:
            warm = Concept.from_bytes(self.request.warm_start, backend.fingerprint, backend.model_id)
            if warm.k == k and warm.generation == self.n_generation:
                return (torch.nn.Parameter(warm.inputs.to(backend.device).float()),
                        torch.nn.Parameter(warm.output.to(backend.device).float()))
        generator = torch.Generator().manual_seed(self.request.seed)
        n = backend.slots.first_id  # only the model's own rows, not the slot rows
        rows = torch.randperm(n, generator=generator)[:4096]  # statistics from a sample: no copy of the table
        table = backend.model.get_input_embeddings().weight[rows.to(backend.device)].float().cpu()
        head = backend.model.get_output_embeddings().weight[rows.to(backend.device)].float().cpu()
        noise = torch.randn(k + 1, table.shape[1], generator=generator) * table.std(0) * 0.1
        inputs = torch.nn.Parameter((table.mean(0) + noise).to(backend.device))
        return inputs, torch.nn.Parameter(head.mean(0).to(backend.device))


WARM_START_SHORTER = 3


def train_concept(engine: "Engine", request: TrainRequest, progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None, config: TrainConfig | None = None,
                  trainer: type[Trainer] = Trainer, between: Pause | None = None) -> TrainResult:
    config = config or engine.config
    if request.epochs is not None:  # asked for: exactly that many
        config = replace(config, epochs=request.epochs, extra_epochs=0)
    elif request.warm_start is not None:
        # A refresh starts from what the concept already knows: a third of the epochs suffices.
        config = replace(config, epochs=max(1, config.epochs // WARM_START_SHORTER),
                         extra_epochs=config.extra_epochs // WARM_START_SHORTER)
    if not request.positives:
        raise ValueError("training needs at least one photo of the subject")
    job = trainer(engine, request, config, progress, cancel, between)
    if job.n_latents > engine.backend.slots.k:
        raise ValueError(f"k={job.n_latents} is more than the engine's {engine.backend.slots.k} latent slots")
    return job.run()
