"""`cowest train sft`, `cowest train dpo`, `cowest rounds`."""
from __future__ import annotations

import os

from cowest.settings import Settings

from . import CliError, add_collect_args, add_db, check_data, collect_options


def register(sub) -> None:
    from cowest.tasks import TASKS

    train = sub.add_parser("train", help="train the weak model").add_subparsers(metavar="STAGE")
    sft = train.add_parser("sft", help="LoRA SFT on a task's gold targets")
    sft.add_argument("--task", required=True, choices=[t for t in TASKS if t != "open"])
    sft.add_argument("--data", required=True)
    sft.add_argument("--limit", type=int)
    sft.add_argument("--weak", default="smollm2", help="base model spec (default smollm2)")
    sft.add_argument("--out", default="adapters/sft", help="adapter folder (default adapters/sft)")
    sft.add_argument("--format", choices=["direct", "knowledge", "cot"], default="cot")
    sft.add_argument("--max-steps", type=int, default=-1, help="stop after S optimizer steps (default: 1 epoch)")
    sft.add_argument("--epochs", type=float, default=1.0)
    sft.add_argument("--lr", type=float, default=1.4e-5)
    sft.add_argument("--batch-size", type=int, default=1)
    sft.add_argument("--grad-accum", type=int, default=8)
    _lora_args(sft)
    add_db(sft)
    sft.set_defaults(func=cmd_sft)

    dpo = train.add_parser("dpo", help="DPO on one round's pairs from the store")
    dpo.add_argument("--run", required=True)
    dpo.add_argument("--round", type=int, required=True)
    dpo.add_argument("--weak", default=None, help="base model spec (default: the run's weak model)")
    dpo.add_argument("--from-adapter", help="start from this adapter (the SFT adapter for round 1)")
    dpo.add_argument("--reference", choices=["sft", "previous"], default="previous")
    dpo.add_argument("--sft-adapter", help="the reference adapter when --reference sft")
    dpo.add_argument("--out", help="adapter folder (default adapters/RUN/round-R)")
    _dpo_args(dpo)
    add_db(dpo)
    dpo.set_defaults(func=cmd_dpo)

    rounds = sub.add_parser("rounds", help="N rounds of collect -> DPO -> next adapter (resumable)")
    add_collect_args(rounds)
    rounds.add_argument("--rounds", type=int, required=True)
    rounds.add_argument("--sft-adapter", help="adapter round 1 starts from (default: the bare base model)")
    rounds.add_argument("--fresh-queries", action="store_true", help="a new slice of --limit rows each round")
    rounds.add_argument("--reference", choices=["sft", "previous"], default="previous")
    rounds.add_argument("--out", default="adapters", help="adapters go to OUT/RUN/round-R (default adapters)")
    _dpo_args(rounds)
    rounds.set_defaults(func=cmd_rounds)


def _lora_args(p) -> None:
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-alpha", type=int, default=16)


def _dpo_args(p) -> None:
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--dpo-lr", type=float, default=1.41e-5)
    p.add_argument("--dpo-grad-accum", type=int, default=16)
    p.add_argument("--dpo-max-steps", type=int, default=-1, help="stop each DPO after S steps (default: 1 epoch)")
    _lora_args(p)


def _dpo_overrides(args) -> dict:
    from cowest.trainer.common import LoraSettings

    return dict(beta=args.beta, learning_rate=args.dpo_lr, grad_accum=args.dpo_grad_accum,
                max_steps=args.dpo_max_steps, lora=LoraSettings(r=args.lora_r, alpha=args.lora_alpha))


def cmd_sft(args) -> int:
    from cowest.storage import Adapter, get_store
    from cowest.trainer.common import LoraSettings
    from cowest.trainer.sft import SFTOptions, train_sft

    check_data(args.data)
    store = get_store(args.db or Settings.from_env().db)
    opts = SFTOptions(task=args.task, data=args.data, out=args.out, limit=args.limit, weak=args.weak,
                      format=args.format, max_steps=args.max_steps, epochs=args.epochs, learning_rate=args.lr,
                      batch_size=args.batch_size, grad_accum=args.grad_accum,
                      lora=LoraSettings(r=args.lora_r, alpha=args.lora_alpha))
    result = train_sft(opts)
    if not result["main_process"]:
        return 0
    store.save_adapter(Adapter(run_id=None, round=0, kind="sft", path=os.path.abspath(args.out), base_model=args.weak,
                               metrics={k: v for k, v in result.items() if k not in ("log", "main_process")}))
    print(f"SFT: {result['examples']} examples, {result['steps']} steps, train loss {result['train_loss']:.4f}")
    print(f"adapter: {os.path.abspath(args.out)}")
    return 0


def cmd_dpo(args) -> int:
    from cowest.storage import get_store
    from cowest.storage.schema import Run
    from cowest.trainer.dpo import DPOOptions, train_dpo

    store = get_store(args.db or Settings.from_env().db)
    run_id = store.run_id(args.run)
    weak = args.weak
    if weak is None:
        with store.session() as s:
            weak = (s.get(Run, run_id).config or {}).get("weak", "smollm2")
    opts = DPOOptions(run=args.run, round=args.round, out=args.out or f"adapters/{args.run}/round-{args.round}",
                      weak=weak, from_adapter=args.from_adapter, reference=args.reference,
                      sft_adapter=args.sft_adapter, **_dpo_overrides(args))
    row = train_dpo(store, opts)
    if row is None:  # a non-main process of a multi-GPU launch
        return 0
    m = row.metrics
    print(f"DPO round {args.round}: {len(row.pair_ids)} pairs, {m.get('steps')} steps, first loss "
          f"{m.get('first_loss', float('nan')):.4f}, mean margin {m.get('rewards/margins', float('nan')):.4f}")
    print(f"adapter: {row.path} (reference: {row.reference})")
    return 0


def cmd_rounds(args) -> int:
    from cowest.console import rounds_table
    from cowest.trainer.rounds import RoundsOptions, run_rounds

    if args.rounds < 1:
        raise CliError("--rounds must be at least 1")
    if args.sft_adapter and not os.path.isfile(os.path.join(args.sft_adapter, "adapter_config.json")):
        raise CliError(f"{args.sft_adapter}: not a PEFT adapter folder")
    opts = RoundsOptions(collect=collect_options(args), rounds=args.rounds, sft_adapter=args.sft_adapter,
                         fresh_queries=args.fresh_queries, out=args.out, reference=args.reference,
                         dpo=_dpo_overrides(args))
    print(rounds_table(run_rounds(opts)))
    return 0
