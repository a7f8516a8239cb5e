/**
 * The portal's building blocks: labelled fields, buttons that show their progress, errors in
 * plain words with the next step, loading states, copy buttons and keyboard-navigable tabs.
 */
import { type ReactNode, useCallback, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from '../api.js';

/** A labelled input; `error` is announced to screen readers. */
export function Field(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  type?: string;
  name?: string;
  autoComplete?: string;
  required?: boolean;
  hint?: string;
  error?: string;
  placeholder?: string;
  multiline?: boolean;
  rows?: number;
  mono?: boolean;
}) {
  const id = useId();
  const describedBy = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    name: props.name,
    value: props.value,
    required: props.required,
    placeholder: props.placeholder,
    'aria-invalid': props.error ? true : undefined,
    'aria-describedby': describedBy,
    className: props.mono ? 'mono' : undefined,
  };
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.multiline ? (
        <textarea {...common} rows={props.rows ?? 8} spellCheck={false} onChange={(e) => props.onChange(e.target.value)} />
      ) : (
        <input
          {...common}
          type={props.type ?? 'text'}
          autoComplete={props.autoComplete}
          onChange={(e) => props.onChange(e.target.value)}
        />
      )}
      {props.hint && (
        <p className="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p className="field-error" id={`${id}-error`} role="alert">
          {props.error}
        </p>
      )}
    </div>
  );
}

/** A button that shows a spinner and is disabled while `busy`. */
export function Button(props: {
  children: ReactNode;
  busy?: boolean;
  onClick?: () => void;
  type?: 'button' | 'submit';
  kind?: 'primary' | 'secondary' | 'danger';
  disabled?: boolean;
  label?: string;
}) {
  return (
    <button
      type={props.type ?? 'button'}
      className={`btn ${props.kind ?? 'primary'}`}
      disabled={props.busy || props.disabled}
      aria-busy={props.busy || undefined}
      aria-label={props.label}
      onClick={props.onClick}
    >
      {props.busy && <span className="spinner" aria-hidden="true" />}
      {props.children}
    </button>
  );
}

/** An error in plain words, with what to do next. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : new ApiError(0, 'ERROR', (error as Error).message ?? String(error));
  const retry = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
  const compilerErrors =
    e.code === 'COMPILE_FAILED' ? ((e.details as { errors?: { formatted: string }[] } | undefined)?.errors ?? []) : [];
  return (
    <div className="error-box" role="alert">
      <p>
        <strong>{capitalise(e.message)}.</strong>
        {e.hint ? ` ${e.hint}.` : ''}
        {retry ? ` You can try again in ${retry} seconds.` : ''}
      </p>
      {compilerErrors.length > 0 && (
        <figure aria-label="Compiler errors">
          <pre className="compiler-errors">{compilerErrors.map((c) => c.formatted).join('\n')}</pre>
        </figure>
      )}
    </div>
  );
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A loading indicator that screen readers announce. */
export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

/** Copies `text` to the clipboard and says so. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="btn secondary small"
      aria-label={label}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
        } catch {
          // Clipboard access can be refused (an insecure origin); the text stays selectable.
        }
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** A value with a copy button. */
export function Copyable({ text, label, testId }: { text: string; label: string; testId?: string }) {
  return (
    <div className="copyable">
      <code data-testid={testId}>{text}</code>
      <CopyButton text={text} label={`Copy ${label}`} />
    </div>
  );
}

/** Tabs with arrow-key navigation (WAI-ARIA tabs pattern). */
export function Tabs(props: {
  label: string;
  tabs: { id: string; title: string }[];
  active: string;
  onSelect: (id: string) => void;
}) {
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const move = (delta: number) => {
    const i = props.tabs.findIndex((t) => t.id === props.active);
    const next = props.tabs[(i + delta + props.tabs.length) % props.tabs.length];
    if (next) {
      props.onSelect(next.id);
      refs.current[next.id]?.focus();
    }
  };
  return (
    <div className="tabs" role="tablist" aria-label={props.label}>
      {props.tabs.map((t) => (
        <button
          key={t.id}
          ref={(el) => {
            refs.current[t.id] = el;
          }}
          type="button"
          role="tab"
          id={`tab-${t.id}`}
          aria-selected={t.id === props.active}
          aria-controls={`panel-${t.id}`}
          tabIndex={t.id === props.active ? 0 : -1}
          onClick={() => props.onSelect(t.id)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowRight') move(1);
            if (e.key === 'ArrowLeft') move(-1);
          }}
        >
          {t.title}
        </button>
      ))}
    </div>
  );
}

/** Loads `load()` and reloads when `deps` change; gives data, error, loading and a reload function. */
export function useAsync<T>(
  load: () => Promise<T>,
  deps: unknown[],
): { data?: T; error?: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller lists what load depends on
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/**
 * A form value kept in sessionStorage, so that a form survives a sign-in in between (an expired
 * session sends the user to sign in and back, and what they typed is still there).
 */
export function useDraft<T>(key: string, initial: T): [T, (value: T) => void, () => void] {
  const storageKey = `polis-draft:${key}`;
  const [value, setValue] = useState<T>(() => {
    const saved = sessionStorage.getItem(storageKey);
    return saved !== null ? (JSON.parse(saved) as T) : initial;
  });
  const set = useCallback(
    (v: T) => {
      setValue(v);
      sessionStorage.setItem(storageKey, JSON.stringify(v));
    },
    [storageKey],
  );
  const clear = useCallback(() => sessionStorage.removeItem(storageKey), [storageKey]);
  return [value, set, clear];
}
