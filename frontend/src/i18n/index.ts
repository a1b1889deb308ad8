// Message catalogues and the language switch. The first language is the browser's (navigator.languages), Spanish
// when it lists neither; a choice made with the switch is kept in this browser and wins.
import { en, type MessageKey } from "./en";
import { es } from "./es";

export type Lang = "es" | "en";
export type { MessageKey };

const CATALOGUES: Record<Lang, Record<MessageKey, string>> = { es, en };
const STORAGE_KEY = "vatio.lang";
const listeners = new Set<() => void>();

let current: Lang = readStoredLang();

/** The language of the first of the browser's languages that has a catalogue; Spanish when none has. */
export function preferredLang(languages: readonly string[]): Lang {
  for (const tag of languages) {
    const primary = tag.toLowerCase().split("-")[0];
    if (primary === "es" || primary === "en") return primary;
  }
  return "es";
}

function readStoredLang(): Lang {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    /* private mode: nothing remembered */
  }
  if (stored === "en" || stored === "es") return stored;
  const languages =
    typeof navigator === "undefined"
      ? []
      : navigator.languages?.length
        ? navigator.languages
        : [navigator.language];
  return preferredLang(languages.filter(Boolean));
}

export function lang(): Lang {
  return current;
}

/** The locale for numbers and dates of the current language. */
export function locale(): string {
  return current === "es" ? "es-ES" : "en-GB";
}

export function setLang(next: Lang): void {
  if (next === current) return;
  current = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    /* private mode: the choice lasts this page only */
  }
  document.documentElement.lang = next;
  listeners.forEach((listener) => listener());
}

export function onLangChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Translate `key`, replacing each "{name}" with vars[name]. */
export function t(key: MessageKey, vars: Record<string, string | number | bigint> = {}): string {
  const template = CATALOGUES[current][key] ?? en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

/** True when `key` names a message (for keys built at run time, such as revert.<ErrorName>). */
export function hasMessage(key: string): key is MessageKey {
  return key in en;
}
