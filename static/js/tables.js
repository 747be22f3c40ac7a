// On a phone, tables stack each row into a card (portal.css); every cell is labelled with its column's
// header so a stacked row still says what each value is. Runs on load and on every htmx swap.
(function () {
  "use strict";

  function label(root) {
    root.querySelectorAll("table").forEach(function (table) {
      var heads = table.querySelectorAll("thead tr:last-child th");
      if (!heads.length) { return; }
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          var head = heads[column];
          if (head && !cell.hasAttribute("data-label")) { cell.setAttribute("data-label", head.textContent.trim()); }
          column += cell.colSpan || 1;
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { label(document); });
  document.addEventListener("htmx:afterSwap", function (event) { label(event.target); });
})();
