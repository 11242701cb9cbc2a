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
// typeset the new content each time it arrives. The first page is MathJax's
// own startup typeset; typesetting it again while that one runs tears down
// the output's stylesheet and leaves formulas laid out as plain text. Later
// pages wait for whatever typesetting is still under way.
let firstPage = true;
document$.subscribe(() => {
  if (firstPage) {
    firstPage = false;
    return;
  }
  MathJax.startup.promise = MathJax.startup.promise.then(() => {
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    return MathJax.typesetPromise();
  });
});
