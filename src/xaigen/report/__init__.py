"""Reports: ``report.html`` (:mod:`.html`) and ``nas.html`` (:mod:`.nas`) in one layout
(:mod:`.layout`), with every figure as PNG and SVG in ``figures/`` and every table as CSV in
``tables/``; :mod:`.render` re-renders them from results files (``xaigen report``)."""
