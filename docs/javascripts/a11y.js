// Small accessibility repairs to markup that the theme and notebook
// converter produce, applied after every (instant) page load.
document$.subscribe(() => {
  // Material's search overlay is a dialog without a name.
  const search = document.querySelector(".md-search");
  if (search) search.setAttribute("aria-label", "Search");
  // Notebook code cells scroll sideways; keyboard users must reach them.
  for (const cell of document.querySelectorAll(".highlight-ipynb")) {
    cell.setAttribute("tabindex", "0");
  }
  // So do wide tables (the benchmark's) and code shown in a notebook's
  // Markdown cells where they overflow: checked after layout, once the theme
  // has wrapped them.
  requestAnimationFrame(() => {
    const wide = ".md-typeset__scrollwrap, .jp-RenderedMarkdown pre";
    for (const element of document.querySelectorAll(wide)) {
      if (element.scrollWidth > element.clientWidth) element.setAttribute("tabindex", "0");
    }
  });
});
