/**
 * Contracts: deploy from Solidity source (compiled by the portal; the compiler's errors are shown
 * with their lines) or from an ABI and bytecode, with each step of the deployment shown, then call
 * any function of a deployed contract from a form generated from its ABI.
 */
import { type FormEvent, useEffect, useState } from 'react';
import { api } from '../api.js';
import { Button, ErrorBox, Field, Loading, useAsync, useDraft } from '../components/ui.js';
import { Link } from '../router.js';

type AbiParam = { name: string; type: string };
type AbiItem = { type: string; name?: string; inputs?: AbiParam[]; outputs?: AbiParam[]; stateMutability?: string };
type Contract = { id: string; address: string; name: string; abi: AbiItem[]; txHash: string; createdAt: number };
type Job = {
  id: string;
  step: string;
  steps: string[];
  status: 'running' | 'done' | 'failed';
  result?: { contract: Contract; blockNumber: string };
  error?: { code: string; message: string; hint?: string; details?: unknown };
};

const EXAMPLE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract Greeter {
    string public greeting;
    event Greeted(address indexed by, string greeting);

    constructor(string memory initial) { greeting = initial; }

    function greet(string calldata text) external {
        greeting = text;
        emit Greeted(msg.sender, text);
    }
}
`;

/** The contracts tab. */
export function ContractsTab({ appId }: { appId: string }) {
  const list = useAsync(() => api<{ contracts: Contract[] }>('GET', `/api/apps/${appId}/contracts`), [appId]);
  const [selected, setSelected] = useState<string>();
  const chosen = list.data?.contracts.find((c) => c.address === selected) ?? list.data?.contracts[0];
  return (
    <>
      <Deploy
        appId={appId}
        onDeployed={(c) => {
          list.reload();
          setSelected(c.address);
        }}
      />
      <h2>Deployed contracts</h2>
      {list.loading && !list.data && <Loading what="the contracts" />}
      <ErrorBox error={list.error} />
      {list.data && list.data.contracts.length === 0 && <p>No contract deployed from the portal yet.</p>}
      {list.data && list.data.contracts.length > 0 && (
        <div className="field">
          <label htmlFor="contract-pick">Contract</label>
          <select id="contract-pick" value={chosen?.address} onChange={(e) => setSelected(e.target.value)}>
            {list.data.contracts.map((c) => (
              <option key={c.address} value={c.address}>
                {c.name} at {c.address}
              </option>
            ))}
          </select>
        </div>
      )}
      {chosen && <Functions appId={appId} contract={chosen} />}
    </>
  );
}

function Deploy({ appId, onDeployed }: { appId: string; onDeployed: (c: Contract) => void }) {
  const [draft, setDraft, clearDraft] = useDraft(`deploy:${appId}`, {
    mode: 'source',
    source: EXAMPLE,
    abi: '',
    bytecode: '',
    args: '["Hello"]',
  });
  const [job, setJob] = useState<Job>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (job?.status !== 'running') return;
    const timer = setTimeout(async () => {
      try {
        const { job: next } = await api<{ job: Job }>('GET', `/api/jobs/${job.id}`);
        setJob(next);
        if (next.status === 'done' && next.result) {
          clearDraft();
          onDeployed(next.result.contract);
        }
      } catch (err) {
        setError(err);
      }
    }, 300);
    return () => clearTimeout(timer);
  }, [job, onDeployed, clearDraft]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setJob(undefined);
    setBusy(true);
    try {
      let args: unknown[];
      try {
        args = draft.args.trim() === '' ? [] : (JSON.parse(draft.args) as unknown[]);
        if (!Array.isArray(args)) throw new Error();
      } catch {
        throw new Error('the constructor arguments must be a JSON list, e.g. ["Hello", 42]');
      }
      if (draft.mode === 'source') {
        // Compile first, so that errors show at once with their lines.
        await api('POST', `/api/apps/${appId}/compile`, { source: draft.source });
        const { job: started } = await api<{ job: Job }>('POST', `/api/apps/${appId}/contracts`, { source: draft.source, args });
        setJob(started);
      } else {
        let abi: unknown;
        try {
          abi = JSON.parse(draft.abi);
        } catch {
          throw new Error('the ABI is not valid JSON: paste the "abi" array from your compiler output');
        }
        const { job: started } = await api<{ job: Job }>('POST', `/api/apps/${appId}/contracts`, {
          abi,
          bytecode: draft.bytecode.trim(),
          args,
        });
        setJob(started);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const running = job?.status === 'running';
  return (
    <form onSubmit={submit}>
      <h2>Deploy a contract</h2>
      <fieldset className="row">
        <legend>Deploy from</legend>
        <label>
          <input
            type="radio"
            name="deploy-mode"
            checked={draft.mode === 'source'}
            onChange={() => setDraft({ ...draft, mode: 'source' })}
          />{' '}
          Source code
        </label>
        <label>
          <input
            type="radio"
            name="deploy-mode"
            checked={draft.mode === 'artifact'}
            onChange={() => setDraft({ ...draft, mode: 'artifact' })}
          />{' '}
          ABI and bytecode
        </label>
      </fieldset>
      {draft.mode === 'source' ? (
        <Field
          label="Solidity source"
          multiline
          rows={14}
          mono
          value={draft.source}
          onChange={(source) => setDraft({ ...draft, source })}
        />
      ) : (
        <>
          <Field label="ABI (JSON)" multiline rows={6} mono value={draft.abi} onChange={(abi) => setDraft({ ...draft, abi })} />
          <Field
            label="Bytecode (0x…)"
            multiline
            rows={3}
            mono
            value={draft.bytecode}
            onChange={(bytecode) => setDraft({ ...draft, bytecode })}
          />
        </>
      )}
      <Field
        label="Constructor arguments (JSON list)"
        mono
        value={draft.args}
        onChange={(args) => setDraft({ ...draft, args })}
      />
      <ErrorBox
        error={error ?? (job?.status === 'failed' ? Object.assign(new Error(job.error?.message), job.error) : undefined)}
      />
      {job && (
        <ol className="steps" aria-label="Deployment progress">
          {job.steps.map((s) => {
            const i = job.steps.indexOf(s);
            const at = job.steps.indexOf(job.step);
            const state =
              job.status === 'done' || i < at ? 'done' : i === at ? (job.status === 'failed' ? 'failed' : 'current') : 'todo';
            return (
              <li key={s} className={state} aria-current={state === 'current' ? 'step' : undefined}>
                {s}
              </li>
            );
          })}
        </ol>
      )}
      {job?.status === 'done' && job.result && (
        <p className="notice" role="status">
          Deployed {job.result.contract.name} at <code data-testid="deployed-address">{job.result.contract.address}</code> in
          block {job.result.blockNumber}.
        </p>
      )}
      <Button type="submit" busy={busy || running}>
        {running ? `Deploying: ${job?.step}…` : 'Compile and deploy'}
      </Button>
    </form>
  );
}

function Functions({ appId, contract }: { appId: string; contract: Contract }) {
  const fns = contract.abi.filter((i) => i.type === 'function');
  return (
    <>
      <h3>
        {contract.name} <code>{contract.address}</code>
      </h3>
      {fns.map((fn) => (
        <FunctionForm
          key={`${fn.name}(${(fn.inputs ?? []).map((p) => p.type).join(',')})`}
          appId={appId}
          address={contract.address}
          fn={fn}
        />
      ))}
    </>
  );
}

type CallResult =
  | { kind: 'read'; result: unknown }
  | { kind: 'transaction'; hash: string; status: string; blockNumber: string; logs: { event?: string; args?: unknown }[] };

function FunctionForm({ appId, address, fn }: { appId: string; address: string; fn: AbiItem }) {
  const inputs = fn.inputs ?? [];
  const [values, setValues] = useState<string[]>(() => inputs.map(() => ''));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<CallResult>();
  const readOnly = fn.stateMutability === 'view' || fn.stateMutability === 'pure';
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      setResult(
        await api<CallResult>('POST', `/api/apps/${appId}/contracts/${address}/call`, { function: fn.name, args: values }),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="fn" onSubmit={submit} aria-label={`Function ${fn.name}`}>
      <h4>
        {fn.name} <span className="kind">{readOnly ? 'read' : 'transaction'}</span>
      </h4>
      {inputs.map((p, i) => (
        <Field
          // biome-ignore lint/suspicious/noArrayIndexKey: a function's parameters never reorder, and names may repeat or be empty
          key={`${p.name}-${i}`}
          label={`${p.name || `argument ${i + 1}`} (${p.type})`}
          mono
          value={values[i] ?? ''}
          onChange={(v) => setValues(values.map((old, j) => (j === i ? v : old)))}
        />
      ))}
      <Button type="submit" busy={busy} kind={readOnly ? 'secondary' : 'primary'}>
        {readOnly ? 'Read' : 'Send'}
      </Button>
      <ErrorBox error={error} />
      {result?.kind === 'read' && (
        <output className="result" data-testid={`result-${fn.name}`}>
          {JSON.stringify(result.result)}
        </output>
      )}
      {result?.kind === 'transaction' && (
        <output className="result" data-testid={`result-${fn.name}`}>
          {result.status === 'success' ? 'Included' : 'Reverted'} in block {result.blockNumber}:{' '}
          <Link to={`/apps/${appId}/explorer?tx=${result.hash}`}>{result.hash}</Link>
          {result.logs.map((l, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: a receipt's logs are fixed, in log-index order
            <div key={`${l.event}-${i}`}>
              {l.event ?? 'log'} {JSON.stringify(l.args)}
            </div>
          ))}
        </output>
      )}
    </form>
  );
}
