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
  // So do wide tables (the benchmark's) where they overflow: checked after
  // layout, once the theme has wrapped them.
  requestAnimationFrame(() => {
    for (const wrap of document.querySelectorAll(".md-typeset__scrollwrap")) {
      if (wrap.scrollWidth > wrap.clientWidth) wrap.setAttribute("tabindex", "0");
    }
  });
});
