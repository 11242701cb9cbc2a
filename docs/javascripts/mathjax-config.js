// MathJax typesets only the spans pymdownx.arithmatex marks, and notebook
// output. Everything it loads later (font data, extensions) comes from the
// site's own vendor/ folder, found relative to this script.
const vendor = new URL("../vendor/", document.currentScript.src).href;

window.MathJax = {
  loader: {
    paths: { mathjax: vendor + "mathjax", fonts: vendor + "@mathjax" },
  },
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-MarkdownOutput",
    // Spoken and Braille math would fetch 1.2 MB of speech rules on every page.
    enableSpeech: false,
    enableBraille: false,
    menuOptions: { settings: { speech: false, braille: false } },
  },
};

// Material's instant navigation swaps the page without reloading scripts:
// typeset the new content each time it arrives.
document$.subscribe(() => {
  if (!window.MathJax.typesetPromise) return; // first load: MathJax typesets itself
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
