// A tiny DOM builder: h("div.card", {onclick}, child, ...). No framework: pages render into a root node.
type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, unknown> & { dataset?: Record<string, string> };

export function h<K extends keyof HTMLElementTagNameMap>(
  spec: K | `${K}.${string}` | `${K}#${string}`,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const [tagAndId, ...classes] = spec.split(".");
  const [tag, id] = tagAndId.split("#");
  const element = document.createElement(tag as K);
  if (id) element.id = id;
  if (classes.length) element.className = classes.join(" ");
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") {
      Object.assign(element.dataset, value as Record<string, string>);
    } else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value as EventListener);
    } else if (name === "class") {
      element.className = [element.className, attributeText(name, value)].filter(Boolean).join(" ");
    } else if (name in element && name !== "list" && name !== "form") {
      (element as unknown as Record<string, unknown>)[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : attributeText(name, value));
    }
  }
  append(element, children);
  return element;
}

/** Classes and attributes are strings, numbers or booleans; an object here is a mistake, not "[object Object]". */
function attributeText(name: string, value: unknown): string {
  if (
    typeof value === "string" ||
    typeof value === "number" ||
    typeof value === "boolean" ||
    typeof value === "bigint"
  ) {
    return String(value);
  }
  throw new TypeError(`h(): "${name}" must be a string, number or boolean, not ${typeof value}`);
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `parent`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, children);
}
