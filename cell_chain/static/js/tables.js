/* Tables that do not fit: on a narrow screen (the portrait tablet) a table wider than its
   column, or one whose buttons are squeezed, is shown as a stack of cards, one per row, each
   value under its column's name. Nothing scrolls sideways and no action is cut off. The
   table keeps its table roles for screen readers (CSS display: block would drop them). */
(function () {
  "use strict";

  var ROLES = { TABLE: "table", THEAD: "rowgroup", TBODY: "rowgroup", TFOOT: "rowgroup", TR: "row", TD: "cell" };

  function headerTexts(table) {
    var rows = table.tHead ? table.tHead.rows : [];
    if (!rows.length) { return []; }
    var texts = [];
    Array.prototype.forEach.call(rows[rows.length - 1].cells, function (cell) {
      var text = cell.textContent.replace(/\s+/g, " ").trim();
      for (var i = 0; i < (cell.colSpan || 1); i++) { texts.push(text); }
    });
    return texts;
  }

  function label(table) {
    var texts = headerTexts(table);
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (!cell.hasAttribute("data-label") && texts[column]) { cell.setAttribute("data-label", texts[column]); }
          column += cell.colSpan || 1;
          // The value beside its label: the cell's content in one box (the cell becomes a
          // two-column grid when stacked); a cell with nothing in it is left out of the card.
          if (!cell.querySelector(":scope > .stack-value")) {
            var value = document.createElement("div");
            value.className = "stack-value";
            while (cell.firstChild) { value.appendChild(cell.firstChild); }
            cell.appendChild(value);
          }
          cell.toggleAttribute("data-empty", !cell.textContent.trim() && !cell.querySelector("img, svg, input, button, select, textarea"));
        });
      });
    });
  }

  function setRoles(table, on) {
    var parts = [table].concat(Array.prototype.slice.call(table.querySelectorAll("thead, tbody, tfoot, tr, th, td")));
    parts.forEach(function (el) {
      if (!on) {
        if (el.dataset.stackRole) { el.removeAttribute("role"); delete el.dataset.stackRole; }
        return;
      }
      if (el.hasAttribute("role")) { return; }
      var role = ROLES[el.tagName];
      if (el.tagName === "TH") { role = el.getAttribute("scope") === "row" ? "rowheader" : "columnheader"; }
      el.setAttribute("role", role);
      el.dataset.stackRole = "1";
    });
  }

  function squeezed(table) {
    return Array.prototype.some.call(table.querySelectorAll("a, button"), function (el) {
      return el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1;
    });
  }

  function fit() {
    document.querySelectorAll("main table").forEach(function (table) {
      if (table.classList.contains("stacked")) {
        table.classList.remove("stacked");
        setRoles(table, false);
      }
      var frame = table.closest(".table-scroll") || table.parentElement;
      if (table.offsetWidth > frame.clientWidth + 1 || squeezed(table)) {
        label(table);
        setRoles(table, true);
        table.classList.add("stacked");
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fit);
  } else {
    fit();
  }
  window.addEventListener("resize", fit);
  window.TableFit = { refit: fit };
}());
