// Client-side routes on the History API; Flask answers every page path with index.html.
export type Cleanup = () => void;
export type Page = (root: HTMLElement, params: Record<string, string>) => Cleanup | void;

interface Route {
  pattern: RegExp;
  keys: string[];
  page: Page;
  name: string;
}

const routes: Route[] = [];
let cleanup: Cleanup | null = null;
let root: HTMLElement | null = null;
const listeners = new Set<(name: string) => void>();

export function route(path: string, name: string, page: Page): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    "^" +
      path.replace(/:(\w+)/g, (_, key: string) => {
        keys.push(key);
        return "([^/]+)";
      }) +
      "/?$",
  );
  routes.push({ pattern, keys, page, name });
}

export function onNavigate(listener: (name: string) => void): void {
  listeners.add(listener);
}

/** Render the page of the current location (again: after a language or session change). */
export function render(): void {
  if (!root) return;
  cleanup?.();
  cleanup = null;
  const path = location.pathname;
  const match = routes.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m) ?? {
    r: routes[0],
    m: null,
  };
  const params: Record<string, string> = Object.fromEntries(new URLSearchParams(location.search));
  match.r.keys.forEach((key, i) => {
    params[key] = decodeURIComponent(match.m?.[i + 1] ?? "");
  });
  root.replaceChildren();
  cleanup = match.r.page(root, params) ?? null;
  listeners.forEach((listener) => listener(match.r.name));
}

export function navigate(path: string): void {
  if (path !== location.pathname + location.search) history.pushState(null, "", path);
  render();
  window.scrollTo(0, 0);
}

/** The element pages render into (the shell rebuilds it when the language changes). */
export function setRoot(container: HTMLElement): void {
  root = container;
}

export function startRouter(container: HTMLElement): void {
  root = container;
  window.addEventListener("popstate", render);
  document.addEventListener("click", (event) => {
    const link = (event.target as HTMLElement).closest<HTMLAnchorElement>("a[data-link]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(link.getAttribute("href") ?? "/");
  });
  render();
}
