^XA
^FX labels/bag/v1: 100 mm x 100 mm at 203 dpi (800 x 800 dots). Never edit once used.^FS
^CI28
^PW800
^LL800
^LH0,0
^FO24,20^A0N,32,28^FB752,2,4,L^FH^FD{{ label.product_name }}^FS
^FO24,96^GB752,72,3^FS
^FO36,106^A0N,24,22^FB728,2,4,L^FH^FD{{ label.caution }}^FS
^FO44,184^A0N,20,18^FDDIN^FS
^BY{{ label.din_code128.module_dots }}
^FO44,208^BCN,96,N,N,N^FH^FD{{ label.din_code128.data }}^FS
^FO44,316^A0N,34,28^FH^FD{{ label.din }}^FS
^FO300,308^GB40,46,3^FS
^FO300,316^A0N,34,28^FB40,1,0,C^FH^FD{{ label.din_check }}^FS
^FO466,184^A0N,20,18^FDPRODUCT CODE^FS
^BY{{ label.product_code128.module_dots }}
^FO466,208^BCN,96,N,N,N^FH^FD{{ label.product_code128.data }}^FS
^FO466,316^A0N,34,28^FH^FD{{ label.product_code }}^FS
^FO36,392^BXN,{{ label.compound_datamatrix.module_dots }},200,0,0,6,_^FH^FD{{ label.compound_datamatrix.data }}^FS
^FO216,398^A0N,18,16^FDEXPIRES^FS
^FO330,388^A0N,40,34^FH^FD{{ label.expiry }}^FS
^FO216,446^A0N,18,16^FDCONTENTS^FS
^FO330,440^A0N,28,24^FH^FD{{ label.cells }} in {{ label.volume }}^FS
^FO216,484^A0N,18,16^FDSTORAGE^FS
^FO330,478^A0N,28,26^FB446,2,4,L^FH^FD{{ label.storage }}^FS
^FO216,552^A0N,18,16^FDDOSE NO.^FS
^FO330,546^A0N,28,24^FH^FD{{ label.dose_number }}^FS
^FO216,590^A0N,18,16^FDDOSE ID^FS
^FO330,584^A0N,28,24^FB446,1,0,L^FH^FD{{ label.dose_code }}^FS
^FO216,628^A0N,18,16^FDLOT^FS
^FO330,622^A0N,28,20^FB446,1,0,L^FH^FD{{ label.lot }}^FS
^FO216,666^A0N,18,16^FDFACILITY^FS
^FO330,660^A0N,28,24^FB446,2,4,L^FH^FD{{ label.facility }}^FS
{% if label.reprint %}
^FO24,688^GB288,48,48^FS
^FO24,698^FR^A0N,34,30^FB288,1,0,C^FH^FDREPRINT {{ label.reprint }}^FS
{% endif %}
^FO24,744^GB752,2,2^FS
^FO24,756^A0N,20,18^FB752,1,0,R^FH^FDLabel template {{ kind }}/{{ version }}^FS
^PQ1
^XZ
